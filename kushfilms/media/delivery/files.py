"""The media files the app hands out under a playback grant, and the posters, each
opened the same way, with nothing here knowing HTTP (``responses.py`` does).

A playlist (the master, a rung's media playlist, the sprites' WebVTT index) is
opened in four steps (:func:`open_playlist`): the grant in its URL checked, the
key it names, its text read from the store (first: no transaction stays open across
the store), and the grant checked again against the film and the viewer's plan as
they are now (``access.py``). It is then rewritten for this viewer and this moment:
only the rungs they may watch, the files it names signed for minutes. Playlists are
never kept by anyone (:data:`PLAYLIST_CACHE_CONTROL`).

Stored files (segments, sprites, posters) are handed over as they are
(:class:`Stored`), however the store allows: from disk, through nginx, or by a
presigned URL.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.config import Settings
from kushfilms.media import layout
from kushfilms.media.delivery.access import (
    AccessChecks,
    BadMediaToken,
    NoSuchMedia,
    check_access,
    check_grant,
    segments_token,
)
from kushfilms.media.delivery.signing import Grant, Scope
from kushfilms.media.playlists import filter_master, rewrite_uris
from kushfilms.media.storage import BadKey, Storage

PLAYLIST = "application/vnd.apple.mpegurl"
VTT = "text/vtt"
# Checked at every fetch, and naming URLs that lapse in minutes: never kept.
PLAYLIST_CACHE_CONTROL = "no-store"
# Media objects never change once written (new content gets new keys).
IMMUTABLE = "private, max-age=31536000, immutable"
PUBLIC_IMMUTABLE = "public, max-age=31536000, immutable"
# Posters are public; a redirect to the store is good for an hour.
PUBLIC_PRESIGN_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Written:
    """A playlist written for this request (never a stored file as it is)."""

    text: str
    media_type: str
    cache_control: str = PLAYLIST_CACHE_CONTROL


@dataclass(frozen=True, slots=True)
class Stored:
    """An object of the store, to hand over as it is."""

    key: str
    cache_control: str
    expires_in: int = PUBLIC_PRESIGN_SECONDS  # of a presigned URL, where the store gives one


@dataclass(frozen=True, slots=True)
class Fetch:
    """What a fetch under a playlists grant is checked and answered with."""

    session: AsyncSession
    storage: Storage
    settings: Settings
    checks: AccessChecks


@dataclass(frozen=True, slots=True)
class Opened:
    """A playlist as stored, under a grant checked just now."""

    grant: Grant
    key: str
    text: str
    max_height: int  # the tallest rung the grant opens now


async def open_playlist(
    fetch: Fetch, movie_id: uuid.UUID, token: str, key_of: Callable[[Grant], str]
) -> Opened:
    """The playlist ``key_of`` names under a playlists grant, opened in the four steps
    above; the errors are the refusals the client gets (403, 404)."""
    grant = check_grant(fetch.settings, movie_id, token, Scope.PLAYLISTS)
    key = key_of(grant)
    text = await read_text(fetch.storage, key)  # first: no transaction stays open across it
    max_height = await check_access(fetch.session, grant, fetch.settings, fetch.checks)
    return Opened(grant, key, text, max_height)


async def master_playlist(fetch: Fetch, movie_id: uuid.UUID, token: str) -> Written:
    """The rungs the grant's viewer may watch now."""
    opened = await open_playlist(fetch, movie_id, token, master_key)
    return Written(filter_master(opened.text, opened.max_height), PLAYLIST)


async def media_playlist(fetch: Fetch, movie_id: uuid.UUID, token: str, rung: str) -> Written:
    """A rung's media playlist, its segments under a segments grant (or presigned)."""
    opened = await open_playlist(fetch, movie_id, token, partial(media_playlist_key, rung=rung))
    check_rung(rung, opened.max_height)
    segments = segments_token(opened.grant, opened.max_height, fetch.settings)
    return Written(_signed(fetch, opened, token=segments), PLAYLIST)


async def thumbnails_index(fetch: Fetch, movie_id: uuid.UUID, token: str) -> Written:
    """The scrub-preview index; its sprites stay under the playlists grant (or presigned)."""
    opened = await open_playlist(fetch, movie_id, token, thumbnails_key)
    return Written(_signed(fetch, opened, token=None), VTT)


async def sprite(fetch: Fetch, movie_id: uuid.UUID, token: str, name: str) -> Stored:
    """A scrub-preview sprite, checked like the playlists (they are few and small)."""
    grant = check_grant(fetch.settings, movie_id, token, Scope.PLAYLISTS)
    key = sprite_key(grant, name)
    await check_access(fetch.session, grant, fetch.settings, fetch.checks)
    return stored(fetch.storage, key, IMMUTABLE, expires_in=fetch.settings.segment_url_seconds)


def segment(
    storage: Storage, settings: Settings, movie_id: uuid.UUID, token: str, rung: str, name: str
) -> Stored:
    """An init or media segment under a segments grant: no database, no check but the grant's."""
    grant = check_grant(settings, movie_id, token, Scope.SEGMENTS)
    key = segment_key(grant, rung, name)
    return stored(storage, key, IMMUTABLE, expires_in=settings.segment_url_seconds)


def poster(storage: Storage, movie_id: uuid.UUID, name: str) -> Stored:
    """A poster (public)."""
    return stored(storage, layout.art_key(movie_id, name), PUBLIC_IMMUTABLE)


# --- The steps ------------------------------------------------------------------------


def check_rung(rung: str, max_height: int) -> None:
    """Refuse a folder that names no rung (404), or a rung above ``max_height`` (403)."""
    height = layout.rung_height(rung)
    if height is None:
        raise NoSuchMedia()
    if height > max_height:
        raise BadMediaToken("Your plan does not include this quality.")


def master_key(grant: Grant) -> str:
    return layout.master_key(grant.video_id)


def thumbnails_key(grant: Grant) -> str:
    return layout.thumbnails_key(grant.video_id)


def media_playlist_key(grant: Grant, rung: str) -> str:
    """A rung's media playlist, if the rung is within the grant's cap."""
    check_rung(rung, grant.max_height)
    return layout.media_playlist_key(grant.video_id, rung)


def segment_key(grant: Grant, rung: str, name: str) -> str:
    """The stored init or media segment behind a segments grant's URL."""
    check_rung(rung, grant.max_height)
    if not layout.is_segment_name(name):
        raise NoSuchMedia()
    return layout.segment_key(grant.video_id, rung, name)


def sprite_key(grant: Grant, name: str) -> str:
    if not layout.is_sprite_name(name):
        raise NoSuchMedia()
    return layout.sprite_key(grant.video_id, name)


async def read_text(storage: Storage, key: str) -> str:
    try:
        return (await storage.get_bytes(key)).decode()
    except (FileNotFoundError, BadKey) as error:
        raise NoSuchMedia() from error


def stored(
    storage: Storage, key: str, cache_control: str, *, expires_in: int = PUBLIC_PRESIGN_SECONDS
) -> Stored:
    """The object at ``key``; 404 when the store is a directory without it (a remote
    store is not asked: its presigned URL answers for itself)."""
    local = storage.local_path(key)
    if local is not None and not local.is_file():
        raise NoSuchMedia()
    return Stored(key, cache_control, expires_in)


def sign_files(
    playlist: str,
    *,
    storage: Storage,
    key: str,
    expires_in: int,
    token: str | None = None,
) -> str:
    """The playlist stored at ``key`` with the files it names signed for ``expires_in``
    seconds: presigned by the store when it can, else under the segments ``token``
    (``../../<token>/<folder>/<name>``, from ``/media/<movie>/<grant>/<folder>/``);
    without a token, left as they are (under the playlist's own grant)."""
    folder_key = key.rsplit("/", 1)[0] + "/"
    folder = folder_key.rstrip("/").rsplit("/", 1)[1]

    def url_of(name: str) -> str:
        presigned = storage.presigned_url(folder_key + name, expires_in=expires_in)
        if presigned:
            return presigned
        return f"../../{token}/{folder}/{name}" if token else name

    return rewrite_uris(playlist, url_of)


def _signed(fetch: Fetch, opened: Opened, *, token: str | None) -> str:
    return sign_files(
        opened.text,
        storage=fetch.storage,
        key=opened.key,
        expires_in=fetch.settings.segment_url_seconds,
        token=token,
    )
