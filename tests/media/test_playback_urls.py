"""Handed-out playback URLs play only while the film and the viewer's plan allow it.

The films here have a ladder written straight to storage (no transcoding): a
master playlist, and for each rung a media playlist, an init segment and two
media segments. The app serving the URLs checks at every playlist fetch
(``playback_check_seconds=0``) unless a test says otherwise.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import m3u8
import pytest
from sqlalchemy import select

from kushfilms.billing.entitlements import Entitlement
from kushfilms.db import transaction
from kushfilms.errors import KushError
from kushfilms.kit.clock import utcnow
from kushfilms.media import layout
from kushfilms.media.delivery.access import AccessChecks, Standing, judge, media_key
from kushfilms.media.delivery.signing import Grant, Scope, read_grant, sign_grant
from kushfilms.media.playlists import Rendition
from kushfilms.models import Plan, Subscription, SubscriptionStatus, Video
from tests.conftest import Backend, app_of, make_settings
from tests.films import add_video, film
from tests.media.conftest import S3_BUCKET
from tests.media.journey import installed

RUNGS = {360: 640, 720: 1280, 1080: 1920}  # short side: width
MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def _rendition(height: int) -> dict[str, Any]:
    codecs = "avc1.64001f,mp4a.40.2"
    bandwidth = height * 4000
    return Rendition(
        f"{height}p", RUNGS[height], height, bandwidth, bandwidth, codecs, 24.0
    ).to_dict()


def _master() -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7"]
    for height, width in RUNGS.items():
        lines.append(f"#EXT-X-STREAM-INF:BANDWIDTH={height * 4000},RESOLUTION={width}x{height}")
        lines.append(f"{height}p/index.m3u8")
    return "\n".join(lines) + "\n"


MEDIA_PLAYLIST = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n"
    '#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MAP:URI="init.mp4"\n'
    "#EXTINF:4.000000,\nseg_00000.m4s\n#EXTINF:4.000000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n"
)


async def ready_film(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend, access_level: str
) -> dict[str, Any]:
    """A published film with a 360p, 720p and 1080p ladder in storage."""
    movie = await film(
        client, admin, env, f"Film {uuid.uuid4().hex[:6]}", access_level=access_level
    )
    await add_video(env, movie, renditions=[_rendition(height) for height in RUNGS])
    async with transaction(env.app.state.db.writer) as session:
        video = await session.scalar(select(Video).where(Video.movie_id == uuid.UUID(movie["id"])))
        assert video is not None
        video_id = video.id
    storage = env.app.state.storage
    kind = "application/vnd.apple.mpegurl"
    await storage.put_bytes(layout.master_key(video_id), _master().encode(), content_type=kind)
    for height in RUNGS:
        rung = layout.rung_name(height)
        playlist = layout.media_playlist_key(video_id, rung)
        await storage.put_bytes(playlist, MEDIA_PLAYLIST.encode(), content_type=kind)
        init = layout.segment_key(video_id, rung, layout.INIT_SEGMENT)
        await storage.put_bytes(init, b"init-%d" % height, content_type="video/mp4")
        for index in range(2):
            data = b"segment-%d-%d" % (height, index)
            segment = layout.segment_key(video_id, rung, layout.SEGMENT_PATTERN % index)
            await storage.put_bytes(segment, data, content_type="video/mp4")
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:08.000\nsprite_000.jpg#xywh=0,0,160,90\n"
    index_key = layout.thumbnails_key(video_id)
    await storage.put_bytes(index_key, vtt.encode(), content_type="text/vtt")
    sprite = layout.sprite_key(video_id, layout.SPRITE_PATTERN % 0)
    await storage.put_bytes(sprite, b"sprite", content_type="image/jpeg")
    return movie


async def subscribe(env: Backend, viewer: dict[str, Any], plan: Plan) -> None:
    now = utcnow()
    async with transaction(env.app.state.db.writer) as session:
        session.add(
            Subscription(
                user_id=uuid.UUID(viewer["user"]["id"]),
                plan=plan,
                status=SubscriptionStatus.ACTIVE,
                provider_subscription_id=f"sub_{uuid.uuid4().hex}",
                current_period_start=now - timedelta(days=3),
                current_period_end=now + timedelta(days=27),
                started_at=now - timedelta(days=3),
                provider_created_at=now - timedelta(days=3),
            )
        )


async def change_subscription(env: Backend, viewer: dict[str, Any], **changes: Any) -> None:
    async with transaction(env.app.state.db.writer) as session:
        subscription = await session.scalar(
            select(Subscription).where(Subscription.user_id == uuid.UUID(viewer["user"]["id"]))
        )
        assert subscription is not None
        for name, value in changes.items():
            setattr(subscription, name, value)


async def start(
    client: httpx.AsyncClient, movie: dict[str, Any], viewer: dict[str, Any] | None = None
) -> dict[str, Any]:
    headers = {**viewer["headers"], "X-Device-Id": "living-room-tv"} if viewer else {}
    response = await client.get(f"/api/movies/{movie['id']}/playback", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def resolve(base: str, uri: str) -> str:
    """A playlist's URI as a player resolves it (the path, for the in-process client)."""
    return httpx.URL(urljoin(f"http://testserver{base}", uri)).raw_path.decode()


async def rungs(http: httpx.AsyncClient, manifest_url: str) -> list[int]:
    master = await http.get(manifest_url)
    assert master.status_code == 200, master.text
    return [p.stream_info.resolution[1] for p in m3u8.loads(master.text).playlists]


async def segment_urls(http: httpx.AsyncClient, manifest_url: str, rung: int) -> list[str]:
    """The init and media segment URLs of a rung's media playlist, fetched now."""
    playlist_url = resolve(manifest_url, f"{rung}p/index.m3u8")
    response = await http.get(playlist_url)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    playlist = m3u8.loads(response.text)
    uris = [playlist.segment_map[0].uri] + [segment.uri for segment in playlist.segments]
    return [resolve(playlist_url, uri) for uri in uris]


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    code: str = response.json()["error"]["code"]
    return code


@pytest.fixture
async def checked(client_of_app: MakeClient) -> httpx.AsyncClient:
    """A client of the app that checks every playlist fetch afresh."""
    return await client_of_app(playback_check_seconds=0)


async def test_a_handed_out_url_stops_playing_once_the_film_is_unpublished(
    client: httpx.AsyncClient,
    checked: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    movie = await ready_film(client, admin, env, "FREE")
    playback = await start(client, movie, viewer)
    media_url = resolve(playback["manifest_url"], "360p/index.m3u8")
    sprite_url = resolve(playback["thumbnails_vtt_url"], "sprite_000.jpg")
    assert (await checked.get(sprite_url)).content == b"sprite"
    assert await rungs(checked, playback["manifest_url"]) == [360]
    [init, first, _] = await segment_urls(checked, playback["manifest_url"], 360)
    assert (await checked.get(first)).content == b"segment-360-0"

    unpublished = await client.post(
        f"/api/admin/movies/{movie['id']}/unpublish", headers=admin["headers"]
    )

    assert unpublished.status_code == 200
    for url in (playback["manifest_url"], media_url, playback["thumbnails_vtt_url"], sprite_url):
        assert refusal(await checked.get(url)) == "film_unavailable"
    # Segment URLs handed out before still play until they lapse, minutes later.
    assert (await checked.get(init)).status_code == 200


async def test_a_handed_out_url_stops_playing_once_the_film_needs_a_higher_plan(
    client: httpx.AsyncClient,
    checked: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    await subscribe(env, viewer, Plan.BASIC)
    movie = await ready_film(client, admin, env, "BASIC")
    playback = await start(client, movie, viewer)
    assert await rungs(checked, playback["manifest_url"]) == [360, 720]

    raised = await client.put(
        f"/api/admin/movies/{movie['id']}",
        json={"access_level": "PREMIUM"},
        headers=admin["headers"],
    )

    assert raised.status_code == 200, raised.text
    master = await checked.get(playback["manifest_url"])
    assert refusal(master) == "subscription_required"
    assert master.json()["error"]["required_plan"] == "PREMIUM"
    assert master.json()["error"]["current_plan"] == "BASIC"
    media = await checked.get(resolve(playback["manifest_url"], "720p/index.m3u8"))
    assert refusal(media) == "subscription_required"


async def test_a_handed_out_url_stops_playing_once_the_subscription_ends(
    client: httpx.AsyncClient,
    checked: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    await subscribe(env, viewer, Plan.PREMIUM)
    movie = await ready_film(client, admin, env, "PREMIUM")
    playback = await start(client, movie, viewer)
    assert await rungs(checked, playback["manifest_url"]) == [360, 720, 1080]
    assert len(await segment_urls(checked, playback["manifest_url"], 1080)) == 3

    ended = utcnow() - timedelta(minutes=1)
    await change_subscription(
        env,
        viewer,
        status=SubscriptionStatus.CANCELED,
        current_period_end=ended,
        ended_at=ended,
    )

    assert refusal(await checked.get(playback["manifest_url"])) == "subscription_required"
    media = await checked.get(resolve(playback["manifest_url"], "1080p/index.m3u8"))
    assert refusal(media) == "subscription_required"
    # Asking again is refused too, as it always was for a viewer on the free plan.
    again = await client.get(f"/api/movies/{movie['id']}/playback", headers=viewer["headers"])
    assert refusal(again) == "subscription_required"


async def test_a_downgrade_takes_the_higher_rungs_out_of_the_playlists(
    client: httpx.AsyncClient,
    checked: httpx.AsyncClient,
    admin: dict[str, Any],
    viewer: dict[str, Any],
    env: Backend,
) -> None:
    await subscribe(env, viewer, Plan.PREMIUM)
    movie = await ready_film(client, admin, env, "FREE")
    playback = await start(client, movie, viewer)
    assert playback["max_height"] == 1080
    assert await rungs(checked, playback["manifest_url"]) == [360, 720, 1080]

    await change_subscription(env, viewer, plan=Plan.BASIC)  # a downgrade that took effect

    assert await rungs(checked, playback["manifest_url"]) == [360, 720]
    above = await checked.get(resolve(playback["manifest_url"], "1080p/index.m3u8"))
    assert refusal(above) == "invalid_media_token"
    [_, first, _] = await segment_urls(checked, playback["manifest_url"], 720)
    assert (await checked.get(first)).content == b"segment-720-0"
    # The fresh segment URLs open no rung above the plan's either.
    assert refusal(await checked.get(first.replace("/720p/", "/1080p/"))) == "invalid_media_token"


async def test_segment_urls_lapse_in_minutes_and_a_fetch_of_the_playlist_renews_them(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env, "FREE")
    playback = await start(client, movie)
    assert playback["segment_url_seconds"] == env.settings.segment_url_seconds == 300
    [init, first, second] = await segment_urls(client, playback["manifest_url"], 360)
    token = first.split("/")[3]
    key = media_key(env.settings)
    segments = read_grant(token, key, now=utcnow())
    lifetime = segments.expires_at - utcnow()
    lapsed = sign_grant(replace(segments, expires_at=utcnow() - timedelta(seconds=1)), key)

    refused = await client.get(first.replace(token, lapsed))
    [_, renewed, _] = await segment_urls(client, playback["manifest_url"], 360)

    assert segments.scope == Scope.SEGMENTS
    assert timedelta(seconds=299) < lifetime <= timedelta(seconds=301)
    assert refusal(refused) == "invalid_media_token"
    assert (await client.get(renewed)).content == b"segment-360-0"
    assert (await client.get(init)).content == b"init-360"
    assert (await client.get(second)).content == b"segment-360-1"


async def test_segments_need_a_segment_url_and_playlists_the_playback_url(
    client: httpx.AsyncClient, admin: dict[str, Any], env: Backend
) -> None:
    movie = await ready_film(client, admin, env, "FREE")
    playback = await start(client, movie)
    folder = playback["manifest_url"].rsplit("/", 1)[0]
    [_, first, _] = await segment_urls(client, playback["manifest_url"], 360)
    segments_folder = first.rsplit("/", 2)[0]

    # The playback URL's long-lived grant opens no segment...
    assert refusal(await client.get(f"{folder}/360p/seg_00000.m4s")) == "invalid_media_token"
    assert refusal(await client.get(f"{folder}/360p/init.mp4")) == "invalid_media_token"
    # ...and a segment URL's short-lived one no playlist.
    for path in ("master.m3u8", "360p/index.m3u8", "thumbs/thumbnails.vtt"):
        assert refusal(await client.get(f"{segments_folder}/{path}")) == "invalid_media_token"


def test_an_answer_is_kept_for_the_check_seconds_then_asked_again() -> None:
    now = [100.0]
    checks = AccessChecks(seconds=5, clock=lambda: now[0])
    key = ("user:1", uuid.UUID(int=1))
    standing = Standing(published=True)

    checks.put(key, standing)
    now[0] += 4.9
    kept = checks.get(key)
    now[0] += 0.1

    assert kept is standing
    assert checks.get(key) is None
    assert AccessChecks(seconds=0).get(key) is None


def test_the_checks_keep_no_more_than_their_room() -> None:
    checks = AccessChecks(seconds=60, max_entries=2)
    keys = [(f"anonymous:{index}", uuid.UUID(int=index)) for index in range(3)]

    for key in keys:
        checks.put(key, Standing(published=True))

    assert [checks.get(key) is not None for key in keys] == [False, True, True]


async def test_with_object_storage_segment_urls_are_presigned_for_as_short_a_time(
    tmp_path: Path, s3_endpoint: str
) -> None:
    settings = make_settings(
        tmp_path,
        storage_url=f"s3://{S3_BUCKET}/urls-{tmp_path.name}",
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        segment_url_seconds=120,
    )
    async with installed(settings) as (client, admin):
        env = Backend("s3", settings, app_of(client))
        movie = await ready_film(client, admin, env, "FREE")
        playback = await start(client, movie)
        media_url = resolve(playback["manifest_url"], "360p/index.m3u8")

        playlist = m3u8.loads((await client.get(media_url)).text)
        uris = [playlist.segment_map[0].uri] + [segment.uri for segment in playlist.segments]
        async with httpx.AsyncClient() as direct:
            first = await direct.get(uris[1])

    assert all("X-Amz-Expires=120&" in uri for uri in uris), uris
    assert first.content == b"segment-360-0"


GRANT = Grant(uuid.UUID(int=1), uuid.UUID(int=2), "user:x", 1080, utcnow())
ON_PREMIUM = Entitlement(True, Plan.PREMIUM, 2160, 4)
STANDING = Standing(True, GRANT.video_id, (360, 720, 1080), ON_PREMIUM)


@pytest.mark.parametrize(
    ("standing", "refused"),
    [
        (replace(STANDING, published=False), "film_unavailable"),
        (replace(STANDING, entitlement=None), "invalid_media_token"),  # the viewer is gone
        (replace(STANDING, video_id=uuid.UUID(int=3)), "invalid_media_token"),  # new video
        (replace(STANDING, video_id=None), "invalid_media_token"),  # being processed again
        (
            replace(STANDING, entitlement=Entitlement(False, Plan.BASIC, 0, 2, Plan.PREMIUM)),
            "subscription_required",
        ),
    ],
)
def test_a_grant_is_refused_when_the_film_or_the_viewer_no_longer_allow_it(
    standing: Standing, refused: str
) -> None:
    with pytest.raises(KushError) as error:
        judge(GRANT, standing)

    assert (error.value.status, error.value.code) == (403, refused)


@pytest.mark.parametrize(
    ("granted", "plan_allows", "opened"),
    [
        (1080, 2160, 1080),  # the grant's own cap
        (1080, 720, 720),  # a downgrade lowers it
        (720, 2160, 720),  # an upgrade waits for a new playback
        (1080, 480, 360),  # the tallest rung within the plan
        (1080, 240, 360),  # below every rung: the smallest still plays
    ],
)
def test_a_grant_opens_the_rungs_within_both_its_cap_and_the_plan_now(
    granted: int, plan_allows: int, opened: int
) -> None:
    standing = replace(STANDING, entitlement=Entitlement(True, Plan.BASIC, plan_allows, 2))

    assert judge(replace(GRANT, max_height=granted), standing) == opened
