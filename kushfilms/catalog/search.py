"""Full-text search over titles and descriptions, on SQLite FTS5 or PostgreSQL.

Both backends index the same folded words (lower case, no accents), rank title
hits above description hits, and match each query word as a prefix, so results
appear while a title is still being typed. When a query finds nothing, each
word that is not the start of any title word is replaced by the nearest title
word (one edit for short words, two for long ones) and the search runs again.
"""

from collections.abc import Iterable, Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy import Float, Subquery, Uuid, text
from sqlalchemy.orm import Session

# SQLite: a standalone FTS5 table kept in step with ``movies`` by triggers
# (see the initial migration); bm25 weights: movie_id 0, title 10, description 1.
_SQLITE_MATCH = """
SELECT movie_id, bm25(movie_search, 0.0, 10.0, 1.0) AS rank
FROM movie_search WHERE movie_search MATCH :query
"""
_SQLITE_VOCABULARY = "SELECT term FROM movie_search_vocab WHERE col = 'title'"

# PostgreSQL: a generated tsvector column, title weighted A and description B.
_POSTGRES_MATCH = """
SELECT movies.id AS movie_id, -ts_rank_cd(movies.search_vector, q) AS rank
FROM movies, to_tsquery('simple', kf_unaccent(:query)) AS q
WHERE movies.search_vector @@ q
"""
_POSTGRES_VOCABULARY = "SELECT word FROM ts_stat('SELECT search_vector FROM movies', 'A')"


def fts5_query(words: Sequence[str]) -> str:
    """Every word as a quoted prefix; FTS5 ANDs them."""
    return " ".join(f'"{word}"*' for word in words)


def tsquery(words: Sequence[str]) -> str:
    """Every word as a prefix, ANDed. Words are ``\\w+`` only, so nothing needs quoting."""
    return " & ".join(f"{word}:*" for word in words)


def allowed_edits(word: str) -> int:
    if len(word) < 4:
        return 0
    return 1 if len(word) < 8 else 2


def correct_word(word: str, vocabulary: Sequence[str]) -> str:
    """The word itself when it starts some title word, else the nearest title word."""
    if any(term.startswith(word) for term in vocabulary):
        return word
    edits = allowed_edits(word)
    if not edits:
        return word
    # Compare with whole words and with word starts of the same length, so a
    # typo in a half-typed word is forgiven too.
    whole = process.extractOne(word, vocabulary, scorer=OSA.distance, score_cutoff=edits)
    starts = process.extractOne(
        word,
        [term[: len(word)] for term in vocabulary],
        scorer=OSA.distance,
        score_cutoff=edits,
    )
    candidates = []
    if whole is not None:
        candidates.append((whole[1], 0, whole[0]))
    if starts is not None:
        candidates.append((starts[1], 1, starts[0]))
    if not candidates:
        return word
    return min(candidates)[2]


def correct_words(words: Iterable[str], vocabulary: Sequence[str]) -> list[str]:
    return [correct_word(word, vocabulary) for word in words]


def matches(dialect: str, words: Sequence[str]) -> Subquery:
    """A subquery of (movie_id, rank) for movies matching every word; lower rank is better."""
    if dialect == "sqlite":
        statement = text(_SQLITE_MATCH).bindparams(query=fts5_query(words))
    else:
        statement = text(_POSTGRES_MATCH).bindparams(query=tsquery(words))
    return statement.columns(movie_id=Uuid(), rank=Float()).subquery("hits")


def title_vocabulary(session: Session) -> list[str]:
    dialect = session.get_bind().dialect.name
    query = _SQLITE_VOCABULARY if dialect == "sqlite" else _POSTGRES_VOCABULARY
    return list(session.scalars(text(query)))
