"""The one place that decides whether a viewer may play a film, and how sharp.

Playback, pages and the API all ask :func:`entitlement`. Today the decision
rests on the viewer's role; subscription plans plug in here.
"""

from dataclasses import dataclass

from kushfilms.models import AccessLevel, Role, User

UNLIMITED_HEIGHT = 4320


@dataclass(frozen=True, slots=True)
class Entitlement:
    allowed: bool
    max_height: int  # the tallest rung (short side, in pixels) the viewer may watch
    required_level: AccessLevel | None = None  # what would open the film, when refused


def entitlement(viewer: User | None, level: AccessLevel, *, free_max_height: int) -> Entitlement:
    if viewer is not None and viewer.role == Role.ADMIN:
        return Entitlement(allowed=True, max_height=UNLIMITED_HEIGHT)
    if level == AccessLevel.FREE:
        return Entitlement(allowed=True, max_height=free_max_height)
    return Entitlement(allowed=False, max_height=0, required_level=level)
