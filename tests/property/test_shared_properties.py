"""Properties of the shared building blocks: cursors, decimals, ids."""

from __future__ import annotations

import contextlib
from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domains.shared.errors import ValidationError
from domains.shared.ids import has_prefix, new_id
from domains.shared.money import from_units, parse_decimal, to_units
from domains.shared.relay import decode_cursor, encode_cursor, page_request

pytestmark = pytest.mark.property


@given(st.text(min_size=1, max_size=80))
def test_cursors_round_trip(key: str) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@given(st.text(max_size=60))
def test_any_cursor_text_is_either_decoded_or_a_validation_error(text: str) -> None:
    with contextlib.suppress(ValidationError):
        assert isinstance(decode_cursor(text), str)


@given(st.integers(min_value=-1000, max_value=1000))
def test_page_sizes_outside_0_to_200_are_refused(first: int) -> None:
    if 0 <= first <= 200:
        assert page_request(first, None).first == first
    else:
        with pytest.raises(ValidationError):
            page_request(first, None)


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from(["0.01", "0.00001", "1", "0.0001"]),
)
def test_units_round_trip_through_decimal_strings(units: int, unit_text: str) -> None:
    unit = Decimal(unit_text)
    text = from_units(units, unit)
    assert "e" not in text.lower()
    assert to_units(parse_decimal(text, field="x"), unit, field="x") == units


@given(st.decimals(allow_nan=False, allow_infinity=False, places=8))
def test_off_unit_values_are_refused_never_rounded(value: Decimal) -> None:
    unit = Decimal("0.01")
    with localcontext(prec=200):
        on_unit = value % unit == 0
        in_range = abs(value / unit) < Decimal(10) ** 28
    if on_unit and in_range:
        assert to_units(value, unit, field="p") * unit == value
    else:
        with pytest.raises(ValidationError):
            to_units(value, unit, field="p")


def test_ids_are_prefixed_unique_and_sortable_by_time() -> None:
    ids = [new_id("acc") for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(has_prefix(i, "acc") for i in ids)
    assert [i[:14] for i in ids] == sorted(i[:14] for i in ids)
