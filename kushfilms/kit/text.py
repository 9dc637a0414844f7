"""Text: folding for slugs and search, and the types that keep what is not text out."""

import re
import unicodedata
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

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


# Text that people type is stored, shown and searched, so characters that are
# not text are refused where it comes in, with a 422 naming the field: control
# characters (C0, DEL and C1: PostgreSQL cannot store NUL at all, and terminals
# and logs act on the others), unpaired surrogates (UTF-8 has no bytes for them)
# and, in names, the bidirectional controls that make a name read backwards or
# reorder the text around it (the "Trojan Source" trick, CVE-2021-42574).
_LINE_BREAKS = "\n\r\u2028\u2029"
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_IN_A_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_IN_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")  # tab, LF, CR pass
_IN_A_NAME = re.compile(f"{_IN_A_LINE.pattern}|{_BIDI.pattern}")


def _kind(char: str) -> str:
    if char in _LINE_BREAKS:
        return "a line break"
    if _BIDI.match(char):
        return "a text-direction control"
    if _SURROGATE.match(char):
        return "an unpaired surrogate"
    return "a control character"


def _refuse(pattern: re.Pattern[str], text: str) -> str:
    if found := pattern.search(text):
        char = found.group()
        raise ValueError(f"must not contain {_kind(char)} (U+{ord(char):04X})")
    return text


def check_single_line(text: str) -> str:
    """``text`` if it is one line of plain text, else ValueError saying why not."""
    return _refuse(_IN_A_LINE, text)


def check_multi_line(text: str) -> str:
    """``text`` if it is plain text, lines and tabs allowed, else ValueError saying why not."""
    return _refuse(_IN_LINES, text)


def check_name(text: str) -> str:
    """``text`` if it is one line of plain text that reads in its own direction."""
    return _refuse(_IN_A_NAME, text)


def text_problem(check: Callable[[str], str], text: str) -> str | None:
    """What ``check`` finds wrong with ``text``, as a sentence for a form, or None."""
    try:
        check(text)
    except ValueError as error:
        message = str(error)
        return f"{message[:1].upper()}{message[1:]}."
    return None


# The types of every text field of requests, forms and queries; give lengths beside
# them, e.g. ``Annotated[SingleLine, Field(max_length=200)]``.
SingleLine = Annotated[str, AfterValidator(check_single_line)]
MultiLine = Annotated[str, AfterValidator(check_multi_line)]
Name = Annotated[str, AfterValidator(check_name)]
