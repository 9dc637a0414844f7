"""Text folding shared by slugs and search: lower case, accents removed."""

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str, *, limit: int = 12) -> list[str]:
    """The distinct folded words of a query, in order, at most ``limit`` of them."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(text)):
        seen.setdefault(word, None)
        if len(seen) == limit:
            break
    return list(seen)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching text that contains ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
