"""Configuration from environment variables: the one place that reads them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from graph.auth_settings import AuthSettings


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


VENUES = ("simulated", "none")


def _venue(raw: str) -> str:
    value = raw.strip().lower()
    if value not in VENUES:
        raise ValueError(f"CAAS_VENUE must be one of {', '.join(VENUES)}, not {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Server settings; see README "Configuration" for each variable."""

    host: str = "127.0.0.1"
    port: int = 8000
    mongodb_uri: str | None = None
    mongodb_db: str = "caas"
    redis_url: str | None = None
    data_dir: Path = Path("var")
    graphiql: bool = True
    introspection: bool = True
    log_level: str = "INFO"
    writer_lease_seconds: float = 10.0
    venue: str = "simulated"
    auth: AuthSettings = field(default_factory=AuthSettings)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "8000")),
            mongodb_uri=os.environ.get("MONGODB_URI") or None,
            mongodb_db=os.environ.get("MONGODB_DB", "caas"),
            redis_url=os.environ.get("REDIS_URL") or None,
            data_dir=Path(os.environ.get("CAAS_DATA_DIR", "var")),
            graphiql=_flag("CAAS_GRAPHIQL", True),
            introspection=_flag("CAAS_INTROSPECTION", True),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
            writer_lease_seconds=float(os.environ.get("CAAS_WRITER_LEASE_SECONDS", "10")),
            venue=_venue(os.environ.get("CAAS_VENUE", "simulated")),
            auth=AuthSettings.from_env(Path(os.environ.get("CAAS_DATA_DIR", "var"))),
        )
