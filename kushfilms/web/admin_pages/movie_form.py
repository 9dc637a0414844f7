"""The film form: what was typed, checked into catalogue fields or sentences per field."""

import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from kushfilms.kit.text import check_multi_line, check_name, text_problem
from kushfilms.models import AccessLevel, Movie

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
YEAR_MIN, YEAR_MAX = 1878, 2100
SLUG_MAX = 200
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ACCESS_LEVELS = {
    AccessLevel.FREE: "Free: everyone",
    AccessLevel.BASIC: "Basic: subscribers",
    AccessLevel.PREMIUM: "Premium: premium subscribers",
}


@dataclass(frozen=True, slots=True)
class MovieForm:
    """The form's fields as text, exactly as typed (or as the movie has them)."""

    title: str = ""
    description: str = ""
    category_id: str = ""
    access_level: str = AccessLevel.FREE.value
    release_year: str = ""
    slug: str = ""

    @classmethod
    def of(cls, movie: Movie) -> "MovieForm":
        return cls(
            title=movie.title,
            description=movie.description,
            category_id=str(movie.category_id or ""),
            access_level=movie.access_level.value,
            release_year=str(movie.release_year or ""),
            slug=movie.slug,
        )

    def values(self) -> dict[str, str]:
        return asdict(self)


def check_movie_form(form: MovieForm, *, with_slug: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The catalogue fields the form asks for, and a sentence for each field that is wrong."""
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {}

    title = form.title.strip()
    if not title:
        errors["title"] = "Give the film a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Use at most {TITLE_MAX} characters."
    elif problem := text_problem(check_name, title):
        errors["title"] = problem
    fields["title"] = title

    description = form.description.strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"Use at most {DESCRIPTION_MAX} characters."
    elif problem := text_problem(check_multi_line, description):
        errors["description"] = problem
    fields["description"] = description

    fields["category_id"] = None
    if form.category_id:
        try:
            fields["category_id"] = uuid.UUID(form.category_id)
        except ValueError:
            errors["category_id"] = "Choose a category from the list."

    try:
        fields["access_level"] = AccessLevel(form.access_level)
    except ValueError:
        errors["access_level"] = "Choose who may watch the film."

    fields["release_year"] = None
    year = form.release_year.strip()
    if year:
        if not year.isdigit() or not YEAR_MIN <= int(year) <= YEAR_MAX:
            errors["release_year"] = f"Enter a year from {YEAR_MIN} to {YEAR_MAX}, or nothing."
        else:
            fields["release_year"] = int(year)

    if with_slug:
        slug = form.slug.strip()
        if not slug:
            errors["slug"] = "The film needs a slug: it is its address on the site."
        elif len(slug) > SLUG_MAX or not SLUG.match(slug):
            errors["slug"] = "Use lower-case letters, digits and single hyphens, like my-film-2."
        fields["slug"] = slug
    return fields, errors
