import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, StrictInt

from kushfilms.kit import text
from kushfilms.kit.schema import PatchModel, RequestModel, ResponseModel
from kushfilms.models import AccessLevel

Title = Annotated[text.Name, Field(min_length=1, max_length=200)]
Description = Annotated[text.MultiLine, Field(max_length=5000)]
Slug = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
ReleaseYear = Annotated[StrictInt, Field(ge=1878, le=2100)]
CategoryName = Annotated[text.Name, Field(min_length=1, max_length=80)]


class CategoryRef(ResponseModel):
    id: uuid.UUID
    name: str
    slug: str


class CategoryOut(CategoryRef):
    description: str
    movie_count: int = Field(description="Published movies in this category")


class MovieOut(ResponseModel):
    id: uuid.UUID
    title: str
    slug: str
    description: str
    thumbnail_url: str | None = Field(description="The poster (the same as `poster_url`)")
    poster_url: str | None = Field(
        description="The portrait poster (2:3, at its widest: 780 px or the image's width)"
    )
    backdrop_url: str | None = Field(
        description="The landscape backdrop (16:9, at its widest: 1920 px or the image's"
        " width); when only one picture was given, the other is made from it"
    )
    duration: int = Field(description="Length in seconds; 0 until the video is processed")
    release_year: int | None
    access_level: AccessLevel
    category: CategoryRef | None
    published: bool
    published_at: datetime | None
    view_count: int
    created_at: datetime
    updated_at: datetime


class MovieCreate(RequestModel):
    title: Title
    description: Description = ""
    category_id: uuid.UUID | None = None
    access_level: AccessLevel = AccessLevel.FREE
    release_year: ReleaseYear | None = None
    slug: Slug | None = Field(default=None, description="Generated from the title when omitted")


class MovieUpdate(PatchModel):
    nullable = frozenset({"category_id", "release_year"})

    title: Title | None = None
    description: Description | None = None
    category_id: uuid.UUID | None = None
    access_level: AccessLevel | None = None
    release_year: ReleaseYear | None = None
    slug: Slug | None = None


class CategoryCreate(RequestModel):
    name: CategoryName
    description: Description = ""
    slug: Slug | None = Field(default=None, description="Generated from the name when omitted")


class CategoryUpdate(PatchModel):
    name: CategoryName | None = None
    description: Description | None = None
    slug: Slug | None = None
