"""Sanctions lists in the OFAC SDN format and fuzzy name / address matching."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from domains.compliance.sanctions import (
    SanctionsList,
    load_ofac_sdn,
    normalise_name,
    token_score,
)
from domains.compliance.screening import DEFAULT_LIST_DIR


@pytest.fixture(scope="module")
def sdn() -> SanctionsList:
    return load_ofac_sdn(DEFAULT_LIST_DIR)


def test_the_sample_loads_names_aliases_birth_dates_programs_and_addresses(
    sdn: SanctionsList,
) -> None:
    entry = next(e for e in sdn.entries if e.entry_id == "36001")
    assert entry.name == "KOVALENKO, Dmitri Aleksandrovich"
    assert entry.kind == "individual"
    assert entry.programs == ("CYBER2", "RUSSIA-EO14024")
    assert "COVALENCO, Dmitrii" in entry.aliases
    assert [str(b) for b in entry.birth_dates] == ["1971-03-14"]
    assert ("ETH", "0x7F3a9C2b1E4d5F6a7B8c9D0e1F2a3B4c5D6e7F80") in entry.addresses
    assert next(e for e in sdn.entries if e.entry_id == "36003").kind == "entity"
    assert sdn.address_count == 6


def test_names_are_folded_and_reordered() -> None:
    assert normalise_name("ORTEGA VILLALOBOS, María-Fernanda") == "maria fernanda ortega villalobos"
    assert token_score("dmitry kovalenko", "dmitri aleksandrovich kovalenko") > 90


@pytest.mark.parametrize(
    ("name", "dob"),
    [
        ("Dmitry Kovalenko", dt.date(1971, 3, 14)),  # transliteration, no patronymic
        ("Dmitrii Covalenco", None),  # an alias spelling
        ("Maria Fernanda Ortega Villalobos", dt.date(1980, 11, 2)),  # accent dropped
        ("Khaled Al-Rasheedi", dt.date(1968, 7, 1)),  # year-only DOB on the list
        ("Northwind Digital Assets", None),  # an entity without its legal form
    ],
)
def test_a_sanctioned_name_variant_is_caught(
    sdn: SanctionsList, name: str, dob: dt.date | None
) -> None:
    assert sdn.match_name(name, dob), name


@pytest.mark.parametrize(
    ("name", "dob"),
    [
        ("Dmitry Kovalev", dt.date(1971, 3, 14)),  # near-miss surname, same birthday
        ("Dmitry Kovalenko", dt.date(1985, 6, 1)),  # same name, a different person
        ("Mario Ortiz", None),
        ("Alice Demo", None),
        ("Kovalenko", None),  # one short token says nothing
    ],
)
def test_an_innocent_near_miss_is_not_caught(
    sdn: SanctionsList, name: str, dob: dt.date | None
) -> None:
    assert sdn.match_name(name, dob) == [], name


def test_addresses_match_case_insensitively_for_hex_and_exactly_for_base58(
    sdn: SanctionsList,
) -> None:
    assert sdn.match_address("0x7f3a9c2b1e4d5f6a7b8c9d0e1f2a3b4c5d6e7f80") is not None
    assert sdn.match_address(" BC1QNORTHWINDSAMPLE0000000000000000000000XYZ ") is not None
    assert sdn.match_address("1KoVaLenKoSampLeAddr3ssXXXXXXXXXX") is not None
    assert sdn.match_address("1kovalenkosampleaddr3ssxxxxxxxxxx") is None
    assert sdn.match_address("0x7f3a9c2b1e4d5f6a7b8c9d0e1f2a3b4c5d6e7f81") is None


def test_a_list_in_another_folder_loads_with_its_own_checksum(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_LIST_DIR / "sdn.csv", tmp_path / "sdn.csv")
    without_aliases = load_ofac_sdn(tmp_path)
    assert without_aliases.checksum != load_ofac_sdn(DEFAULT_LIST_DIR).checksum
    assert without_aliases.match_name("Dmitrii Covalenco") == []
