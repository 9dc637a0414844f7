"""Dates as people read them on our pages and in what the pages show (payment history)."""

from datetime import UTC, date, datetime

# The pages are in English (base.html's lang): dates read "3 Dec 2026", the short form
# no English reader takes the wrong way round (03/12 is March to some, December to others).
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day(moment: date | None) -> str:
    """3 Dec 2026: the one way pages write a date (a moment's day in UTC)."""
    if moment is None:
        return ""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"
