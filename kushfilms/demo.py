"""The demo: an administrator and a small catalogue that plays, so a new install shows
something.

The titles and descriptions are of open movies (Blender Foundation, CC-BY) and
public-domain classics; the pictures are generated test clips.
"""

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.accounts import service as accounts
from kushfilms.catalog import service as catalog
from kushfilms.config import Settings
from kushfilms.media import service as media
from kushfilms.media import uploads
from kushfilms.media.ffmpeg import ffmpeg_executable
from kushfilms.media.storage import Storage
from kushfilms.media.synthetic import render_clip
from kushfilms.models import AccessLevel, VideoStatus
from kushfilms.worker.queue import Jobs

DEMO_ADMIN_EMAIL = "admin@kushfilms.example"

CATEGORIES = {
    "Animation": "Open movies from the Blender studio and friends.",
    "Classics": "Films that shaped the century, restored and in the public domain.",
    "Comedy": "Screwball, slapstick and everything in between.",
    "Horror": "Things that go bump in the dark.",
    "Science Fiction": "Machines, stars and futures that never were.",
}


@dataclass(frozen=True)
class DemoFilm:
    title: str
    year: int
    category: str
    access: AccessLevel
    description: str


FILMS = (
    DemoFilm(
        "Big Buck Bunny",
        2008,
        "Animation",
        AccessLevel.FREE,
        "A giant rabbit with a heart bigger than himself takes on three bullying "
        "rodents who spoil his perfect spring day.",
    ),
    DemoFilm(
        "Sintel",
        2010,
        "Animation",
        AccessLevel.BASIC,
        "A lonely girl crosses frozen wilds to find the baby dragon she raised, and "
        "learns what it costs to get him back.",
    ),
    DemoFilm(
        "Elephants Dream",
        2006,
        "Science Fiction",
        AccessLevel.FREE,
        "Two men wander an endless machine that only one of them believes in.",
    ),
    DemoFilm(
        "Tears of Steel",
        2012,
        "Science Fiction",
        AccessLevel.PREMIUM,
        "In a future Amsterdam, scientists and warriors replay a broken-hearted goodbye "
        "to save the world from the robots it built.",
    ),
    DemoFilm(
        "Cosmos Laundromat",
        2015,
        "Animation",
        AccessLevel.BASIC,
        "On a desolate island, a suicidal sheep named Franck meets a salesman who offers "
        "him the gift of a lifetime.",
    ),
    DemoFilm(
        "Spring",
        2019,
        "Animation",
        AccessLevel.FREE,
        "A shepherd girl and her dog face ancient spirits to bring spring back to the mountains.",
    ),
    DemoFilm(
        "His Girl Friday",
        1940,
        "Comedy",
        AccessLevel.FREE,
        "A newspaper editor uses every trick he knows to keep his star reporter, who "
        "is also his ex-wife, from remarrying.",
    ),
    DemoFilm(
        "The General",
        1926,
        "Comedy",
        AccessLevel.FREE,
        "A Confederate engineer chases a stolen locomotive, and the woman he loves, "
        "across enemy lines.",
    ),
    DemoFilm(
        "Night of the Living Dead",
        1968,
        "Horror",
        AccessLevel.FREE,
        "Strangers barricade themselves in a farmhouse as the dead rise and surround it.",
    ),
    DemoFilm(
        "Nosferatu",
        1922,
        "Horror",
        AccessLevel.BASIC,
        "An estate agent travels to the Carpathians to sell a house to Count Orlok, and "
        "brings the plague home with him.",
    ),
    DemoFilm(
        "Metropolis",
        1927,
        "Science Fiction",
        AccessLevel.PREMIUM,
        "In a towering city split between thinkers and workers, a rich man's son falls "
        "for a prophet of the underground.",
    ),
    DemoFilm(
        "Charade",
        1963,
        "Classics",
        AccessLevel.BASIC,
        "A widow in Paris is hunted by her late husband's partners for a fortune nobody "
        "can find, helped by a stranger with too many names.",
    ),
    DemoFilm(
        "Detour",
        1945,
        "Classics",
        AccessLevel.FREE,
        "A pianist hitchhikes to Los Angeles and one wrong turn leads to another.",
    ),
    DemoFilm(
        "Plan 9 from Outer Space",
        1957,
        "Science Fiction",
        AccessLevel.FREE,
        "Aliens raise the dead of a small Californian town to stop humanity building "
        "a doomsday weapon.",
    ),
)


@dataclass(frozen=True)
class DemoOutcome:
    admin_email: str | None = None
    admin_password: str | None = None  # only when the admin was created just now
    movies: tuple[uuid.UUID, ...] = ()
    videos: tuple[uuid.UUID, ...] = ()


async def seed(
    session: AsyncSession,
    *,
    settings: Settings,
    storage: Storage,
    jobs: Jobs,
    clips: Path,
    seconds: float | None = None,
) -> DemoOutcome:
    """Create a demo admin when there is no admin, and films when there are none.

    Each film gets a generated clip (a moving test picture and a tone, 5 to 14 s),
    attached as its video; :func:`publish_ready` publishes them once processed.
    """
    admin_email = admin_password = None
    admin = await accounts.first_admin(session)
    if admin is None:
        admin_email, admin_password = DEMO_ADMIN_EMAIL, secrets.token_urlsafe(12)
        admin, _ = await accounts.ensure_admin(
            session, email=admin_email, password=admin_password, name="Demo Admin"
        )
    if await catalog.count_movies(session):
        return DemoOutcome(admin_email, admin_password)
    categories = await _ensure_categories(session)
    ffmpeg = ffmpeg_executable(settings.ffmpeg_path)
    movies, videos = [], []
    for index, film in enumerate(FILMS):
        movie = await catalog.create_movie(
            session,
            {
                "title": film.title,
                "description": film.description,
                "release_year": film.year,
                "access_level": film.access,
                "category_id": categories[film.category],
            },
        )
        clip = await asyncio.to_thread(
            render_clip,
            ffmpeg,
            clips / f"film-{index:02d}.mp4",
            seconds=seconds or 5 + (index * 4) % 10,
            pattern=index,
            tone_hz=220 + 55 * index,
        )
        upload = await uploads.stage_local_file(
            session, clip, created_by=admin.id, settings=settings
        )
        video = await media.attach_video(
            session,
            movie_id=movie.id,
            upload_id=upload.id,
            settings=settings,
            storage=storage,
            jobs=jobs,
        )
        movies.append(movie.id)
        videos.append(video.id)
    return DemoOutcome(admin_email, admin_password, tuple(movies), tuple(videos))


async def publish_ready(session: AsyncSession, movie_ids: Sequence[uuid.UUID]) -> int:
    """Publish those of the movies whose video is ready; returns how many."""
    videos = await media.videos_of(session, movie_ids)
    ready = [movie_id for movie_id, video in videos.items() if video.status == VideoStatus.READY]
    for movie_id in ready:
        await catalog.set_published(session, movie_id, True)
    return len(ready)


async def _ensure_categories(session: AsyncSession) -> dict[str, uuid.UUID]:
    existing = await catalog.category_ids_by_name(session)
    for name, description in CATEGORIES.items():
        if name not in existing:
            category = await catalog.create_category(session, name=name, description=description)
            existing[name] = category.id
    return existing
