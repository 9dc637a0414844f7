"""A film's two pictures: the poster (portrait, 2:3) for the catalogue's cards, and the
backdrop (landscape, 16:9) for the home page's featured film and the rows' wide cards.

An administrator uploads either or both. When only one is given, the other is derived
from it: the picture whole, centred over a blurred fill of itself (``images.shaped``),
never a crop of a face. Until a picture is uploaded, processing takes a frame of the
video as the picture of its shape (a backdrop, or a poster for a portrait video) and
derives the other. What the platform made (a frame, a derived picture) is marked so in
its key (``layout.art_origin``): an upload replaces it, and what was derived is derived
again from the upload; a frame never replaces a picture an administrator gave.

No transaction stays open across the image work or the storage transfers: the movie is
read, the pictures made and stored, then :func:`record` decides again in the writing
transaction (an upload that landed meanwhile wins; what is left unused is collected by
``media.gc``).
"""

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from kushfilms.catalog import service as catalog
from kushfilms.db import Database
from kushfilms.errors import KushError
from kushfilms.media import layout
from kushfilms.media.images import BACKDROP, POSTER, Shape, UnusableImage, read_image
from kushfilms.media.images import renditions as image_renditions
from kushfilms.media.images import shaped as shape_image
from kushfilms.media.layout import ArtOrigin
from kushfilms.media.storage import Storage
from kushfilms.models import Movie

Kind = Literal["poster", "backdrop"]
SHAPES: dict[Kind, Shape] = {"poster": POSTER, "backdrop": BACKDROP}
OTHER: dict[Kind, Kind] = {"poster": "backdrop", "backdrop": "poster"}


class UnsupportedImage(KushError):
    status = 415
    code = "unsupported_image"


@dataclass(frozen=True, slots=True)
class Pictures:
    """A film's pictures, by their keys (None: it has none of that kind)."""

    poster_key: str | None
    backdrop_key: str | None

    @classmethod
    def of(cls, movie: Movie) -> "Pictures":
        return cls(movie.poster_key, movie.backdrop_key)

    def key(self, kind: Kind) -> str | None:
        return self.poster_key if kind == "poster" else self.backdrop_key

    def replaceable(self, kind: Kind) -> bool:
        """Whether the picture of ``kind`` is missing or one the platform made."""
        key = self.key(kind)
        return key is None or layout.art_origin(key) != "upload"

    def with_key(self, kind: Kind, key: str) -> "Pictures":
        if kind == "poster":
            return Pictures(key, self.backdrop_key)
        return Pictures(self.poster_key, key)


def placement(current: Pictures, kind: Kind, origin: ArtOrigin) -> tuple[bool, bool]:
    """Whether a new picture of ``kind`` made by ``origin`` takes its place, and whether
    the other picture is then to be derived from it."""
    given = not (current.replaceable("poster") and current.replaceable("backdrop"))
    if origin == "frame" and given:
        return False, False  # an administrator's picture stands for the film, not a frame
    return True, current.replaceable(OTHER[kind])


def kind_of_frame(frame: Image.Image) -> Kind:
    """A landscape (or square) frame makes the backdrop, a portrait one the poster."""
    return "backdrop" if frame.width >= frame.height else "poster"


@dataclass(frozen=True, slots=True)
class Made:
    """Pictures stored and not yet recorded: one of ``kind``, maybe the other derived."""

    kind: Kind
    origin: ArtOrigin
    key: str
    derived_key: str | None


async def make(
    storage: Storage,
    movie_id: uuid.UUID,
    *,
    kind: Kind,
    origin: ArtOrigin,
    image: Image.Image,
    derive: bool,
) -> Made:
    """Store ``image`` as the film's picture of ``kind`` in each of its widths and, with
    ``derive``, the other picture made from it."""
    picture = await asyncio.to_thread(shape_image, image, SHAPES[kind])
    key = await _store(storage, movie_id, SHAPES[kind], picture, origin)
    derived_key = None
    if derive:
        other = SHAPES[OTHER[kind]]
        derived = await asyncio.to_thread(shape_image, picture, other)
        derived_key = await _store(storage, movie_id, other, derived, "derived")
    return Made(kind, origin, key, derived_key)


async def make_from_frame(db: Database, storage: Storage, movie_id: uuid.UUID, frame: Path) -> Made:
    """Store the video's ``frame`` as the picture of its shape (and derive the other
    when it will take its place); :func:`record` shows it unless a picture was given."""
    async with db.reader() as session:
        movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
        current = Pictures.of(movie)
    image = await asyncio.to_thread(lambda: read_image(frame.read_bytes()))
    kind = kind_of_frame(image)
    _, derive = placement(current, kind, "frame")
    return await make(storage, movie_id, kind=kind, origin="frame", image=image, derive=derive)


async def record(session: AsyncSession, movie_id: uuid.UUID, made: Made) -> Pictures:
    """Show what :func:`make` stored, as far as the film's pictures now allow."""
    movie = await catalog.get_movie(session, movie_id, include_unpublished=True)
    current = Pictures.of(movie)
    takes, derives = placement(current, made.kind, made.origin)
    if not takes:
        return current
    pictures = current.with_key(made.kind, made.key)
    if derives and made.derived_key is not None:
        pictures = pictures.with_key(OTHER[made.kind], made.derived_key)
    await catalog.set_pictures(
        session,
        movie_id,
        poster_key=pictures.poster_key,
        backdrop_key=pictures.backdrop_key,
    )
    return pictures


async def read_upload(data: bytes) -> Image.Image:
    """An uploaded image, checked (415 ``unsupported_image`` for anything but a readable
    JPEG, PNG or WebP)."""
    try:
        return await asyncio.to_thread(read_image, data)
    except UnusableImage as error:
        raise UnsupportedImage(str(error)) from error


async def _store(
    storage: Storage, movie_id: uuid.UUID, shape: Shape, picture: Image.Image, origin: ArtOrigin
) -> str:
    """Store a picture's widths under a fresh stem (so caches never serve an old one);
    returns the key of the widest."""
    files = await asyncio.to_thread(image_renditions, picture, shape)
    stem = secrets.token_hex(6)
    for width, data in files.items():
        key = layout.poster_key(movie_id, stem, width, origin)
        await storage.put_bytes(key, data, content_type="image/jpeg")
    return layout.poster_key(movie_id, stem, max(files), origin)
