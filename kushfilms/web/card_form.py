"""The local checkout's card form, checked the way a card form is before it is sent."""

import re
from dataclasses import dataclass
from datetime import date

EXPIRY = re.compile(r"^\s*(\d{1,2})\s*/\s*(\d{2}|\d{4})\s*$")


@dataclass(frozen=True, slots=True)
class CardForm:
    number: str = ""
    expiry: str = ""  # MM/YY
    cvc: str = ""
    name: str = ""

    def kept(self) -> dict[str, str]:
        """What the form shows again after an error: everything but the CVC."""
        return {"card_number": self.number, "expiry": self.expiry, "name": self.name}

    @property
    def digits(self) -> str:
        return re.sub(r"[\s-]", "", self.number)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def expiry_problem(expiry: str, today: date) -> str | None:
    found = EXPIRY.match(expiry)
    if not found:
        return "Enter the expiry date as MM/YY."
    month, year = int(found.group(1)), int(found.group(2))
    if not 1 <= month <= 12:
        return "The month is 01 to 12."
    if year < 100:
        year += 2000
    if (year, month) < (today.year, today.month):
        return "This card has expired."
    return None


def card_problems(card: CardForm, today: date) -> dict[str, str]:
    """Each field's problem, by field name; empty when the form may be sent."""
    problems: dict[str, str] = {}
    digits = card.digits
    if not digits:
        problems["card_number"] = "Enter the card number."
    elif not digits.isdigit() or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        problems["card_number"] = "This is not a valid card number."
    if problem := expiry_problem(card.expiry, today):
        problems["expiry"] = problem
    if not re.fullmatch(r"\d{3,4}", card.cvc.strip()):
        problems["cvc"] = "Enter the 3 or 4 digits on the back of the card."
    if not card.name.strip():
        problems["name"] = "Enter the name on the card."
    return problems
