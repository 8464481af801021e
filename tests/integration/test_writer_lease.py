"""Exactly one engine writer per journal: the second process is a standby."""

from __future__ import annotations

import uuid

import pytest

from domains.shared.errors import UnavailableError
from engine import commands as cmd
from graph.bootstrap import Platform
from graph.settings import Settings

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


async def test_a_second_process_becomes_a_standby_and_takes_over_after_release(
    mongodb_uri: str,
) -> None:
    settings = Settings(mongodb_db=f"test_lease_{uuid.uuid4().hex[:8]}")
    first, second = Platform(settings, mongodb_uri), Platform(settings, mongodb_uri)
    await first.start()
    await second.start()
    try:
        assert (first.role, second.role) == ("writer", "standby")
        credit = cmd.deposit_credit(0, 0, account=1, asset=1, amount_minor=5)
        await first.writer.submit(credit)
        with pytest.raises(UnavailableError, match="does not run the engine writer"):
            await second.writer.submit(credit)
    finally:
        await first.close()
        await second.close()
    third = Platform(settings, mongodb_uri)
    await third.start()
    try:
        assert third.role == "writer"
        assert third.writer.engine.balance(1, 1) == (5, 0), "recovered the first writer's work"
    finally:
        await third.close()
        cleanup = Platform(settings, mongodb_uri)
        await cleanup.client.drop_database(settings.mongodb_db)
        await cleanup.client.close()
