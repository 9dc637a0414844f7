from typing import Any

import httpx
import pytest

from kushfilms.catalog.search import allowed_edits, correct_word, fts5_query, tsquery
from kushfilms.kit.text import words
from tests.catalog.conftest import add_category, add_movie, titles


@pytest.fixture
async def shelf(client: httpx.AsyncClient, admin: dict[str, Any]) -> dict[str, Any]:
    crime = await add_category(client, admin, "Crime")
    return {
        "godfather": await add_movie(
            client,
            admin,
            title="The Godfather",
            description="An ageing patriarch hands his empire to his reluctant son.",
            category_id=crime["id"],
        ),
        "heat": await add_movie(
            client,
            admin,
            title="Heat",
            description="A detective hunts a crew of thieves; the godfather of heist films.",
            category_id=crime["id"],
        ),
        "amelie": await add_movie(
            client, admin, title="Amélie", description="A shy waitress in Montmartre."
        ),
        "metropolis": await add_movie(
            client, admin, title="Metropolis", description="A city of workers and thinkers."
        ),
        "draft": await add_movie(
            client, admin, title="The Godfather Part IV", description="Never made.", publish=False
        ),
    }


async def test_title_matches_rank_above_description_matches(
    client: httpx.AsyncClient, shelf: dict[str, Any]
) -> None:
    assert await titles(client, "search=godfather") == ["The Godfather", "Heat"]


async def test_words_match_as_prefixes_while_typing(
    client: httpx.AsyncClient, shelf: dict[str, Any]
) -> None:
    assert await titles(client, "search=godf") == ["The Godfather", "Heat"]
    assert await titles(client, "search=metro") == ["Metropolis"]


async def test_every_word_must_match(client: httpx.AsyncClient, shelf: dict[str, Any]) -> None:
    assert await titles(client, "search=godfather+empire") == ["The Godfather"]
    assert await titles(client, "search=godfather+zebra") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("godfater", ["The Godfather", "Heat"]),  # a letter missing
        ("metropolsi", ["Metropolis"]),  # two letters swapped
        ("amelei", ["Amélie"]),
        ("metrapo", ["Metropolis"]),  # a typo in a half-typed word
    ],
)
async def test_a_typo_in_a_title_word_is_forgiven(
    client: httpx.AsyncClient, shelf: dict[str, Any], query: str, expected: list[str]
) -> None:
    assert await titles(client, f"search={query}") == expected


async def test_accents_do_not_matter(client: httpx.AsyncClient, shelf: dict[str, Any]) -> None:
    assert await titles(client, "search=amelie") == ["Amélie"]
    assert await titles(client, "search=AMÉLIE") == ["Amélie"]


async def test_search_combines_with_filters_and_hides_unpublished(
    client: httpx.AsyncClient, shelf: dict[str, Any], admin: dict[str, Any]
) -> None:
    assert await titles(client, "search=godfather&category=crime&sort=title") == [
        "Heat",
        "The Godfather",
    ]
    assert "The Godfather Part IV" not in await titles(client, "search=part")
    assert "The Godfather Part IV" in await titles(
        client, "search=part&include_unpublished=true", headers=admin["headers"]
    )


async def test_search_follows_edits_and_deletions(
    client: httpx.AsyncClient, shelf: dict[str, Any], admin: dict[str, Any]
) -> None:
    heat = shelf["heat"]
    await client.put(
        f"/api/admin/movies/{heat['id']}",
        json={"title": "Heat (1995)", "description": "Los Angeles, two professionals."},
        headers=admin["headers"],
    )
    assert await titles(client, "search=angeles") == ["Heat (1995)"]
    assert await titles(client, "search=godfather") == ["The Godfather"]

    await client.delete(f"/api/admin/movies/{shelf['metropolis']['id']}", headers=admin["headers"])
    assert await titles(client, "search=metropolis") == []


@pytest.mark.parametrize(
    "query",
    ['"', "'; DROP TABLE movies; --", "god*", "NEAR(a b)", "a OR b", "-heat", "(", ":*", "&|!"],
)
async def test_query_syntax_in_the_search_box_is_just_text(
    client: httpx.AsyncClient, shelf: dict[str, Any], query: str
) -> None:
    response = await client.get("/api/movies", params={"search": query})

    assert response.status_code == 200
    assert (await client.get("/api/movies")).json()["total"] == 4


async def test_an_overlong_search_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/movies", params={"search": "x" * 201})

    assert response.status_code == 422


def test_query_words_are_folded_and_deduplicated() -> None:
    assert words("  L'Été  à Paris, été!  ") == ["l", "ete", "a", "paris"]
    assert len(words(" ".join(f"w{i}" for i in range(50)))) == 12


def test_query_builders_quote_words_as_prefixes() -> None:
    assert fts5_query(["god", "father"]) == '"god"* "father"*'
    assert tsquery(["god", "father"]) == "god:* & father:*"


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("godfater", "godfather"),
        ("godfa", "godfa"),  # already a prefix of a title word
        ("gdo", "gdo"),  # too short to guess
        ("matropolsi", "metropolis"),  # two edits allowed in a long word
        ("zzzzzz", "zzzzzz"),  # nothing close
        ("metrapo", "metropo"),
    ],
)
def test_correct_word(word: str, expected: str) -> None:
    vocabulary = ["the", "godfather", "metropolis", "heat", "amelie"]

    assert correct_word(word, vocabulary) == expected


def test_allowed_edits_grow_with_length() -> None:
    assert [allowed_edits(w) for w in ("abc", "abcd", "abcdefg", "abcdefgh")] == [0, 1, 1, 2]
