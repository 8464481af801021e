"""Shared fixtures: one embedded store per test session, a fresh database per test module."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from starlette.applications import Starlette

from domains.shared.mongo import Database
from graph.bootstrap import Platform
from graph.http.app import create_app
from graph.ops.embedded_store import EmbeddedStore
from graph.ops.seed import DemoKey, seed_demo
from graph.settings import Settings

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI when set, otherwise one embedded store for the whole session."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    with EmbeddedStore(tmp_path_factory.mktemp("store") / "mongo") as store:
        yield store.uri


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_db(mongodb_uri: str) -> AsyncIterator[Database]:
    """A fresh, empty database for one test, dropped afterwards."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[f"test_{uuid.uuid4().hex[:16]}"]
    yield database
    await client.drop_database(database.name)
    await client.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings with a database name unique to the test module."""
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("unused"))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def app(settings: Settings, mongodb_uri: str) -> AsyncIterator[Starlette]:
    """The ASGI app with its platform started (what the lifespan does)."""
    application = create_app(settings, mongodb_uri)
    platform: Platform = application.state.platform
    await platform.start()
    yield application
    await platform.client.drop_database(settings.mongodb_db)
    await platform.close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def demo_keys(app: Starlette) -> dict[str, DemoKey]:
    """The demo data of `caas seed-demo`, by key name (operator, tenant_admin, alice ...)."""
    keys = await seed_demo(app.state.platform)
    return {key.name: key for key in keys}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
