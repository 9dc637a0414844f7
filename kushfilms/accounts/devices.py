"""The devices a viewer uses: a stable id for each, and a name people recognise.

The pages keep a device's id in a long-lived cookie; API clients send theirs in
a header, or else are known by their User-Agent. The label is read from the
User-Agent by ua-parser's rules, for a viewer choosing which device to stop.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse as parse_user_agent

DEVICE_COOKIE = "kf_device"
DEVICE_HEADER = "X-Device-Id"
DEVICE_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
DEVICE_COOKIE_SECONDS = 400 * 24 * 3600  # the longest browsers keep a cookie
LABEL_LENGTH = 255  # as long as the columns that keep a label
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
# ua-parser's names, as people know them on a list of their devices.
_BROWSER_NAMES = {"Mobile Safari": "Safari", "Mobile Safari UI/WKWebView": "Safari"}
_SYSTEM_NAMES = {"Mac OS X": "macOS", "Chrome OS": "ChromeOS", "iOS": "iPhone"}
_BROWSER_SUFFIXES = (" Mobile iOS", " Mobile", " iOS")
_GENERIC_DEVICES = {"Other", "Mac", "Generic Smartphone", "Generic Tablet", "Spider"}


@dataclass(frozen=True, slots=True)
class Device:
    """A device a viewer plays on: a stable id and a name for people."""

    id: str
    label: str


def valid_device_id(value: str | None) -> str | None:
    return value if value and _DEVICE_ID.fullmatch(value) else None


def new_device_id() -> str:
    return secrets.token_urlsafe(16)


def derived_device_id(user_agent: str) -> str:
    """A device id for a client that sends none: its User-Agent, hashed.

    Stable across token refreshes and network changes; two installs of the
    same app share it, so clients should send ``X-Device-Id``.
    """
    return "ua-" + hashlib.sha256(user_agent.encode()).hexdigest()[:32]


def api_device(user_agent: str, *, sent: str | None, cookie: str | None) -> Device:
    """The device of an API call: the one it names (``X-Device-Id``), else the pages'
    cookie (our own scripts), else one derived from its User-Agent."""
    chosen = sent or valid_device_id(cookie) or derived_device_id(user_agent)
    return Device(chosen, device_label(user_agent))


@lru_cache(maxsize=4096)
def device_label(user_agent: str) -> str:
    """ "Chrome on Linux", "Safari on iPhone", "Chrome on Pixel 8": for people choosing
    which device to stop (ua-parser's rules; an unknown client by its product token)."""
    parsed = parse_user_agent(user_agent)
    browser = system = None
    if parsed.user_agent is not None and parsed.user_agent.family != "Other":
        browser = _BROWSER_NAMES.get(parsed.user_agent.family, parsed.user_agent.family)
        for suffix in _BROWSER_SUFFIXES:
            browser = browser.removesuffix(suffix)
    if parsed.device is not None and parsed.device.family not in _GENERIC_DEVICES:
        system = parsed.device.family
    elif parsed.os is not None and parsed.os.family != "Other":
        system = _SYSTEM_NAMES.get(parsed.os.family, parsed.os.family)
    product = user_agent.split(" ", 1)[0].strip()
    if browser is not None and parsed.os is not None and browser == parsed.os.family:
        browser = product.split("/", 1)[0] or None  # an app: no browser, only its system
    named = " on ".join(part for part in (browser, system) if part)
    if named:
        return named[:LABEL_LENGTH]
    return product[:LABEL_LENGTH] or "Unknown device"
