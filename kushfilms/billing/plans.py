"""The plans on sale: what each costs and what it opens, from the settings."""

import enum
from collections.abc import Iterator
from dataclasses import dataclass

from kushfilms.config import Settings
from kushfilms.kit.money import money
from kushfilms.models import AccessLevel, Plan

RANK = {Plan.FREE: 0, Plan.BASIC: 1, Plan.PREMIUM: 2}
LEVEL_RANK = {AccessLevel.FREE: 0, AccessLevel.BASIC: 1, AccessLevel.PREMIUM: 2}
PLAN_FOR_LEVEL = {level: plan for plan in Plan for level in AccessLevel if level.value == plan}


@dataclass(frozen=True, slots=True)
class PlanOffer:
    plan: Plan
    name: str
    price_cents: int  # a month
    currency: str
    interval: str
    price_id: str  # the payment provider's price ("" for Free)
    max_height: int  # the sharpest rung, by the short side
    streams: int  # devices playing at once
    ads: bool
    downloads: bool
    early_access: bool
    features: tuple[str, ...]

    @property
    def rank(self) -> int:
        return RANK[self.plan]

    def opens(self, level: AccessLevel) -> bool:
        return self.rank >= LEVEL_RANK[level]

    @property
    def price(self) -> str:
        """The monthly price for people: "$2.99"."""
        return money(self.price_cents, self.currency)


@dataclass(frozen=True, slots=True)
class Plans:
    offers: dict[Plan, PlanOffer]

    def __getitem__(self, plan: Plan) -> PlanOffer:
        return self.offers[plan]

    def __iter__(self) -> Iterator[PlanOffer]:
        return iter(sorted(self.offers.values(), key=lambda offer: offer.rank))

    def paid(self) -> list[PlanOffer]:
        return [offer for offer in self if offer.price_id]

    def by_price(self, price_id: str) -> PlanOffer | None:
        return next((offer for offer in self.paid() if offer.price_id == price_id), None)


class Feature(enum.StrEnum):
    """What a plan may promise beyond the library, quality and devices."""

    ADS = "ads"  # the Free plan shows them; the paid plans do not
    DOWNLOADS = "downloads"
    EARLY_ACCESS = "early_access"
    EXTRAS = "extras"


# The features the platform has today. A plan's feature list names only these, so
# /pricing and the emails never sell what does not exist; each is added here when
# it ships (the plans' flags say who gets it then).
SHIPPED: frozenset[Feature] = frozenset()


def _shipped(feature: Feature, line: str) -> tuple[str, ...]:
    return (line,) if feature in SHIPPED else ()


def _quality(height: int) -> str:
    return "4K" if height >= 2160 else f"{height}p"


def plans_from(settings: Settings) -> Plans:
    """Free, Basic and Premium as configured. Without Stripe the local checkout
    sells them under local price ids."""
    basic_price = settings.stripe_price_basic or "price_local_basic"
    premium_price = settings.stripe_price_premium or "price_local_premium"

    def devices(count: int) -> str:
        return f"Watch on {count} device{'s' if count != 1 else ''} at a time"

    offers = [
        PlanOffer(
            Plan.FREE,
            "Free",
            0,
            settings.currency,
            "month",
            "",
            settings.free_max_height,
            settings.free_streams,
            ads=True,
            downloads=False,
            early_access=False,
            features=(
                "The free library",
                *_shipped(Feature.ADS, "With ads"),
                f"Up to {_quality(settings.free_max_height)}",
                devices(settings.free_streams),
            ),
        ),
        PlanOffer(
            Plan.BASIC,
            "Basic",
            settings.basic_price_cents,
            settings.currency,
            "month",
            basic_price,
            settings.basic_max_height,
            settings.basic_streams,
            ads=False,
            downloads=True,
            early_access=False,
            features=(
                "The full library",
                *_shipped(Feature.ADS, "No ads"),
                f"Up to {_quality(settings.basic_max_height)}",
                devices(settings.basic_streams),
                *_shipped(Feature.DOWNLOADS, "Downloads to watch offline"),
            ),
        ),
        PlanOffer(
            Plan.PREMIUM,
            "Premium",
            settings.premium_price_cents,
            settings.currency,
            "month",
            premium_price,
            settings.premium_max_height,
            settings.premium_streams,
            ads=False,
            downloads=True,
            early_access=True,
            features=(
                "Everything in Basic",
                f"Up to {_quality(settings.premium_max_height)} where the film has it",
                devices(settings.premium_streams),
                *_shipped(Feature.EARLY_ACCESS, "Early access to new releases"),
                *_shipped(Feature.EXTRAS, "Behind-the-scenes extras"),
            ),
        ),
    ]
    return Plans({offer.plan: offer for offer in offers})
