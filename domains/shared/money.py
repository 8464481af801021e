"""Decimal strings outside, integer minor units inside: the one place that converts."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from domains.shared.errors import ValidationError


def parse_decimal(text: str, *, field: str) -> Decimal:
    """Parse a decimal string strictly: no exponent, no NaN/Infinity, no whitespace."""
    if not isinstance(text, str) or not text or text.strip() != text:
        raise ValidationError(f"{field} must be a decimal string such as '123.45'", field=field)
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValidationError(f"{field} is not a decimal number: {text!r}", field=field) from exc
    if not value.is_finite() or "e" in text.lower():
        raise ValidationError(f"{field} must be a plain finite decimal: {text!r}", field=field)
    return value


def to_units(value: Decimal, unit: Decimal, *, field: str) -> int:
    """Convert ``value`` into a count of ``unit``; a remainder is an error, never rounded."""
    try:
        units, remainder = divmod(value, unit)
    except InvalidOperation as exc:  # the quotient needs more digits than the context holds
        raise ValidationError(f"{field} {value} is out of range", field=field) from exc
    if remainder != 0:
        raise ValidationError(f"{field} {value} is not a multiple of {unit}", field=field)
    return int(units)


def from_units(units: int, unit: Decimal) -> str:
    """Render an integer count of ``unit`` as a canonical decimal string (no exponent)."""
    value = Decimal(units) * unit
    text = format(value.normalize(), "f") if value != 0 else "0"
    return text
