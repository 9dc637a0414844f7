"""Amounts of money, kept in the currency's smallest unit (cents) and shown to people."""

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def money(cents: int, currency: str) -> str:
    """``money(299, "usd") == "$2.99"``; currencies without a symbol keep their code."""
    amount = f"{cents / 100:.2f}"
    symbol = SYMBOLS.get(currency.lower())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"
