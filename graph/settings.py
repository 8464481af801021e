"""Configuration from environment variables: the one place that reads them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from domains.accounts.residency import ALL_REGIONS, DataRegion, parse_regions
from graph.security.auth_settings import AuthSettings
from graph.security.limits import LimitSettings


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


def _confirmations(raw: str) -> dict[str, int]:
    """``BTC:3,ETH:12`` -> ``{"BTC": 3, "ETH": 12}``."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        asset, _, depth = item.partition(":")
        if not depth.isdigit() or int(depth) < 1:
            raise ValueError(f"CAAS_CHAIN_CONFIRMATIONS: {item!r} is not ASSET:N with N >= 1")
        out[asset.strip().upper()] = int(depth)
    return out


@dataclass(frozen=True)
class CustodySettings:
    """Custody: the chain adapter, its block timer, confirmations, blocklist, key ring."""

    chain: str = "simulated"
    block_seconds: float = 0.0  # 0: blocks only when mined explicitly (tests)
    confirmations: dict[str, int] = field(default_factory=dict)  # per asset, over the defaults
    blocked_addresses: tuple[str, ...] = ()  # the screening blocklist for every tenant
    keys: str | None = None  # CAAS_CUSTODY_KEYS ring; derived from CAAS_SECRET_KEYS if unset

    @classmethod
    def from_env(cls) -> CustodySettings:
        chain = os.environ.get("CAAS_CHAIN", "simulated").strip().lower()
        if chain != "simulated":
            raise ValueError("CAAS_CHAIN must be simulated (real adapters implement ChainAdapter)")
        blocked = os.environ.get("CAAS_BLOCKED_ADDRESSES", "")
        return cls(
            chain=chain,
            block_seconds=float(os.environ.get("CAAS_CHAIN_BLOCK_SECONDS", "2")),
            confirmations=_confirmations(os.environ.get("CAAS_CHAIN_CONFIRMATIONS", "")),
            blocked_addresses=tuple(a.strip() for a in blocked.split(",") if a.strip()),
            keys=os.environ.get("CAAS_CUSTODY_KEYS") or None,
        )


@dataclass(frozen=True)
class PerpSettings:
    """Perpetual futures: funding interval, the scheduler's tick and the simulated index feed."""

    funding_interval_seconds: float = 8 * 3600.0  # CAAS_FUNDING_INTERVAL_SECONDS
    funding_check_seconds: float = 1.0  # CAAS_FUNDING_CHECK_SECONDS: 0 = no scheduler
    # CAAS_INDEX_FEED_SECONDS (5 when read from the environment); 0 = no venue index feed, the
    # default for settings built in code (tests post their own index prices)
    index_feed_seconds: float = 0.0
    # CAAS_FUNDING_FOLD_SECONDS (30 when read from the environment): how often the writer
    # folds funding rounds into the position and balance documents; 0 = never (the default
    # for settings built in code: tests fold when they say so)
    fold_seconds: float = 0.0
    # CAAS_FUNDING_FOLD_ROUNDS (4): fold once a read may have to apply this many rounds
    fold_rounds: int = 1

    @classmethod
    def from_env(cls) -> PerpSettings:
        settings = cls(
            funding_interval_seconds=float(
                os.environ.get("CAAS_FUNDING_INTERVAL_SECONDS", str(8 * 3600))
            ),
            funding_check_seconds=float(os.environ.get("CAAS_FUNDING_CHECK_SECONDS", "1")),
            index_feed_seconds=float(os.environ.get("CAAS_INDEX_FEED_SECONDS", "5")),
            fold_seconds=float(os.environ.get("CAAS_FUNDING_FOLD_SECONDS", "30")),
            fold_rounds=int(os.environ.get("CAAS_FUNDING_FOLD_ROUNDS", "4")),
        )
        if settings.funding_interval_seconds < 1:
            raise ValueError("CAAS_FUNDING_INTERVAL_SECONDS must be at least 1")
        return settings


@dataclass(frozen=True)
class RecordsSettings:
    """Residency and retention: the regions this deployment serves (CAAS_DATA_REGIONS, the
    first is the default for new tenants) and how often the writer purges expired records
    (CAAS_RETENTION_PURGE_SECONDS; 0 = never)."""

    data_regions: tuple[DataRegion, ...] = ALL_REGIONS
    purge_seconds: float = 0.0  # built in code (tests): no purge timer

    @classmethod
    def from_env(cls) -> RecordsSettings:
        raw = os.environ.get("CAAS_DATA_REGIONS", "")
        purge = float(os.environ.get("CAAS_RETENTION_PURGE_SECONDS", "3600"))
        if purge < 0:
            raise ValueError("CAAS_RETENTION_PURGE_SECONDS must be 0 (off) or more")
        return cls(parse_regions(raw) if raw.strip() else ALL_REGIONS, purge)


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
    role: str = "all"  # all (writer, else standby) | api (forwards commands) | edge (no engine)
    redis_prefix: str | None = None  # Redis key prefix of the command relay
    relay_timeout_seconds: float = 10.0
    replica_poll_seconds: float = 0.1
    reconcile_seconds: float = 30.0  # the writer's continuous reconciliation; 0 = off
    # a writer that recovers with more commands than this after the latest snapshot takes
    # a snapshot at once, so the next start replays only what came after (0 = never)
    snapshot_after_replay: int = 10_000
    limits: LimitSettings = field(default_factory=LimitSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    custody: CustodySettings = field(default_factory=CustodySettings)
    perp: PerpSettings = field(default_factory=PerpSettings)
    records: RecordsSettings = field(default_factory=RecordsSettings)

    @property
    def relay_prefix(self) -> str:
        """Keys of the command relay: one stream per journal (database) by default."""
        return self.redis_prefix or f"caas:{self.mongodb_db}:"

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
            role=os.environ.get("CAAS_ROLE", "all").strip().lower() or "all",
            redis_prefix=os.environ.get("CAAS_REDIS_PREFIX") or None,
            relay_timeout_seconds=float(os.environ.get("CAAS_RELAY_TIMEOUT_SECONDS", "10")),
            replica_poll_seconds=float(os.environ.get("CAAS_REPLICA_POLL_SECONDS", "0.1")),
            reconcile_seconds=float(os.environ.get("CAAS_RECONCILE_SECONDS", "30")),
            snapshot_after_replay=int(os.environ.get("CAAS_SNAPSHOT_AFTER_REPLAY", "10000")),
            limits=LimitSettings.from_env(),
            auth=AuthSettings.from_env(Path(os.environ.get("CAAS_DATA_DIR", "var"))),
            custody=CustodySettings.from_env(),
            perp=PerpSettings.from_env(),
            records=RecordsSettings.from_env(),
        )
