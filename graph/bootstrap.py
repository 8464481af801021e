"""Wires store, broker and domains: the only module that knows all of them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from domains.accounts.auth_audit import INDEXES as AUTH_AUDIT_INDEXES
from domains.accounts.auth_audit import AuthAuditRecorder, MongoAuthAudit
from domains.accounts.balances import INDEXES as BALANCE_INDEXES
from domains.accounts.balances import BalancesProjector, BalanceStreams, MongoBalances
from domains.accounts.billing.metering import UsageMeter
from domains.accounts.billing.repository import INDEXES as BILLING_INDEXES
from domains.accounts.billing.repository import MongoBillingRepository
from domains.accounts.billing.service import BillingService
from domains.accounts.customer_tokens import CustomerTokens
from domains.accounts.keys import ApiKeyService
from domains.accounts.model import TREASURY_OWNER
from domains.accounts.repository import INDEXES as ACCOUNTS_INDEXES
from domains.accounts.repository import MongoAccountsRepository
from domains.accounts.residency import Residency, TenantRegions
from domains.accounts.sandbox import SandboxService
from domains.accounts.sandbox_store import INDEXES as SANDBOX_INDEXES
from domains.accounts.sandbox_store import MongoFaucetUsage
from domains.accounts.sealing import SecretSealer
from domains.accounts.service import AccountsService
from domains.accounts.trading_mode import TradingModeService
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.reports import ReportService
from domains.compliance.retention import RecordPurge
from domains.compliance.wiring import INDEXES as COMPLIANCE_INDEXES
from domains.compliance.wiring import ComplianceComponents
from domains.custody.calls import CustodyCalls
from domains.custody.chain_sim import SimulatedChain
from domains.custody.deposits import DepositWatcher
from domains.custody.governance import Governance
from domains.custody.money import CustodyMoney
from domains.custody.omnibus import CustodyModes, SubLedger
from domains.custody.proofs import ReservesService
from domains.custody.repository import INDEXES as CUSTODY_INDEXES
from domains.custody.repository import MongoCustodyRepository
from domains.custody.runtime import CustodyRuntime
from domains.custody.service import SUPPORTED_ASSETS, CustodyService
from domains.custody.steps import CustodySteps
from domains.custody.treasury import TreasuryService
from domains.custody.withdrawals import WithdrawalService
from domains.orders.busts import INDEXES as BUST_INDEXES
from domains.orders.busts import TradeBustService
from domains.orders.catalog import OrdersMarketCatalog
from domains.orders.countdown import INDEXES as COUNTDOWN_INDEXES
from domains.orders.countdown import CountdownRunner, MongoCountdowns
from domains.orders.projection import OrdersProjector
from domains.orders.repository import INDEXES as ORDERS_INDEXES
from domains.orders.repository import MongoOrdersRepository, MongoTradingRepository
from domains.orders.routing import ExternalRouter
from domains.orders.sandbox_desk import SandboxDesk
from domains.orders.service import OrdersService
from domains.orders.streams import MarketStreams, MarketStreamsProjector
from domains.orders.trading import TradingService
from domains.orders.venue_sim import LiveSimulatedVenue, demo_venue_specs
from domains.orders.wind_down import WindDown
from domains.positions.perp_commands import PerpetualCommands
from domains.positions.projection import PositionsProjector
from domains.positions.repository import INDEXES as POSITIONS_INDEXES
from domains.positions.repository import MongoPositionsRepository
from domains.positions.service import PositionsService
from domains.positions.streams import PositionStreams
from domains.shared.context import TenantScope
from domains.shared.engine_port import ReadModels
from domains.shared.mongo import Client, Database, ensure_indexes
from engine.layout import EngineConfig
from graph.reports.regulatory import ReportSigning
from graph.reports.sources import MongoReportSources
from graph.security.auth_settings import parse_ring
from graph.security.authn import Authenticator
from graph.security.replay import make_replay_guard
from graph.settings import Settings
from graph.writer.billing_ledger import MongoBillingLedger
from graph.writer.book_view import RedisBookReader
from graph.writer.consistency import ReadYourWrites
from graph.writer.engine_directory import INDEXES as DIRECTORY_INDEXES
from graph.writer.engine_directory import MongoEngineDirectory
from graph.writer.jobs import WriterJobs
from graph.writer.journal import INDEXES as JOURNAL_INDEXES
from graph.writer.journal import MongoJournal, until_the_store_answers
from graph.writer.lease import MongoLease
from graph.writer.ledger import INDEXES as LEDGER_INDEXES
from graph.writer.ledger import LedgerProjector
from graph.writer.perp_runtime import PerpRuntime
from graph.writer.reconcile import ContinuousReconcile
from graph.writer.retention_job import RecordPurger
from graph.writer.roles import ROLE_API, ROLE_EDGE, ROLES, EngineRoles
from graph.writer.round_folding import Folded, RoundFolding
from graph.writer.sequencer import EngineWriter
from subscriptions.broker import Broker
from subscriptions.hub import StreamHub
from subscriptions.memory import MemoryBroker
from subscriptions.redis import RedisBroker

S = TypeVar("S")


def reserve_salt_secret(key: bytes) -> bytes:
    """The proof-of-reserves salt secret, derived from the custody ring's current key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(hashes.SHA256(), 32, None, b"caas proof of reserves salts").derive(key)


log = logging.getLogger("caas.bootstrap")

ALL_INDEXES = (
    *ACCOUNTS_INDEXES,
    *SANDBOX_INDEXES,
    *AUTH_AUDIT_INDEXES,
    *ORDERS_INDEXES,
    *COUNTDOWN_INDEXES,
    *BUST_INDEXES,
    *POSITIONS_INDEXES,
    *CUSTODY_INDEXES,
    *COMPLIANCE_INDEXES,
    *JOURNAL_INDEXES,
    *BALANCE_INDEXES,
    *LEDGER_INDEXES,
    *DIRECTORY_INDEXES,
    *BILLING_INDEXES,
)
DURABLE_WRITES = WriteConcern(w="majority", j=True)
AUDIT_DRAIN_S = 10.0  # how long a stopping server waits for audit records the store owes
READ_MODEL_WRITES = WriteConcern(w="majority", j=False)
GC_YOUNG_THRESHOLD = 20_000  # allocations between young collections (CPython: 700)


def tune_gc() -> None:
    """Fewer garbage collections in a serving process: the young generation collected every
    20,000 allocations instead of 700 (a funding round's projections allocate ~100,000
    short-lived objects; with the default, this process spent 190-260 ms of a 10,000-
    position round's 1.4-2.1 s in collections, mostly full ones over the whole heap), and
    what start-up built (modules, the schema) frozen out of every later full collection."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


ENGINE_CONFIG = EngineConfig(
    max_markets=32, max_accounts=16_384, max_assets=16, max_orders=131_072, max_price_levels=4096
)


def custody_ring(settings: Settings) -> dict[str, bytes]:
    """CAAS_CUSTODY_KEYS, or keys derived (HKDF) from the sealing ring so dev runs need none."""
    if settings.custody.keys:
        return parse_ring(settings.custody.keys, "CAAS_CUSTODY_KEYS", 32)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    sealing, _ = settings.auth.rings()
    return {
        f"d-{kid}": HKDF(hashes.SHA256(), 32, None, b"caas custody hot wallet keys").derive(key)
        for kid, key in sealing.items()
    }


def make_broker(redis_url: str | None, prefix: str = "caas:") -> Broker:
    """Redis pub/sub when REDIS_URL is set (channels under ``prefix``, so deployments
    sharing a Redis never see each other's events), otherwise the in-process broker."""
    return RedisBroker(redis_url, prefix) if redis_url else MemoryBroker()


class BalanceWallets:
    """The positions domain's Wallets port over the accounts domain's balance read model."""

    def __init__(self, balances: MongoBalances) -> None:
        self._balances = balances

    async def available(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, dict[str, Decimal]]:
        out: dict[str, dict[str, Decimal]] = {}
        for balance in await self._balances.of_accounts(scope, account_ids):
            out.setdefault(balance.account_id, {})[balance.asset] = balance.available
        return out


class ComplianceWithdrawalChecks:
    """Custody's withdrawal checks answered by compliance: the customer's KYC level limits
    (treasury withdrawals have no customer to check) and sanctions screening of the
    destination, which raises an alert on a hit."""

    def __init__(self, compliance: ComplianceComponents) -> None:
        self._compliance = compliance

    async def check(
        self, tenant_id: str, customer_id: str, asset: str, amount: Decimal, destination: str,
        reference: str,
    ) -> None:  # fmt: skip
        if customer_id != TREASURY_OWNER:
            await self._compliance.gate.check_withdrawal(tenant_id, customer_id, asset, amount)
        await self._compliance.screening.require_clear_address(
            tenant_id, customer_id, destination, reference
        )


@dataclass
class Platform:
    """Everything a server process holds: one Mongo client, one broker, the services."""

    settings: Settings
    mongodb_uri: str
    read_only: bool = False
    rebuild: bool = False  # with read_only: the projections too (`caas settlement rebuild`)
    client: Client = field(init=False)
    idempotent_client: Client = field(init=False)  # projections and journal: no retry records
    db: Database = field(init=False)
    broker: Broker = field(init=False)
    hub: StreamHub = field(init=False)
    services: dict[type, object] = field(init=False, default_factory=dict)
    writer: EngineWriter = field(init=False)
    lease: MongoLease = field(init=False)
    role: str = field(init=False, default="starting")
    _standby: asyncio.Task[None] | None = field(init=False, default=None)
    directory: MongoEngineDirectory = field(init=False)
    venue: LiveSimulatedVenue | None = field(init=False, default=None)
    chain: SimulatedChain = field(init=False)
    custody_runtime: CustodyRuntime = field(init=False)
    _custody_repo: MongoCustodyRepository = field(init=False)
    custody_steps: CustodySteps = field(init=False)
    engines: EngineRoles = field(init=False)
    perp_runtime: PerpRuntime = field(init=False)
    reconciler: ContinuousReconcile = field(init=False)
    round_folding: RoundFolding = field(init=False)  # funding rounds into documents
    countdowns: CountdownRunner = field(init=False)
    writer_jobs: WriterJobs = field(init=False)  # what only the lease holder runs
    purger: RecordPurger = field(init=False)  # the retention purge (a writer job)

    def __post_init__(self) -> None:
        if self.settings.role not in ROLES:
            raise ValueError(f"unknown role {self.settings.role!r}; one of {', '.join(ROLES)}")
        if self.settings.role == ROLE_API and not self.settings.redis_url:
            raise ValueError("the api role forwards commands over Redis: set REDIS_URL")
        if self.settings.role == ROLE_EDGE and not self.settings.redis_url:
            raise ValueError("the edge role reads the writer's books from Redis: set REDIS_URL")
        self.client = AsyncMongoClient(
            self.mongodb_uri, serverSelectionTimeoutMS=5000, tz_aware=True, appname="caas"
        )
        # what only the store holds (customers, keys, custody, the journal) is journaled on
        # commit with a majority; the read models are a function of the journal (rebuilt from
        # it after a crash), so their bulk writes skip the per-commit fsync
        self.db = self.client.get_database(self.settings.mongodb_db, write_concern=DURABLE_WRITES)
        # the projections' writes and the journal's appends are idempotent and retried by
        # their callers on a connection failure (the pipeline, projections.py; the writer's
        # _resolve_append: same _id, same bytes), so they are not retryable writes: the
        # embedded store keeps a reply record per retryable write (30 min, at most 10,000)
        # and, once at its cap, sorts them all on every retryable write (5.6 ms per insert
        # instead of 0.5 ms). A pooled connection is dropped after 60 s idle (the embedded
        # store closes one idle for 300 s; without a retry its first write would fail)
        self.idempotent_client = AsyncMongoClient(
            self.mongodb_uri, serverSelectionTimeoutMS=5000, tz_aware=True, appname="caas",
            retryWrites=False, maxIdleTimeMS=60_000,
        )  # fmt: skip
        self.read_models = self.idempotent_client.get_database(
            self.settings.mongodb_db, write_concern=READ_MODEL_WRITES
        )
        self.broker = make_broker(self.settings.redis_url, self.settings.relay_prefix + "events:")
        self.hub = StreamHub(self.broker)  # one broker subscription per topic per process
        orders = OrdersService(MongoOrdersRepository(self.db), self.hub)
        accounts = AccountsService(
            MongoAccountsRepository(self.db), market_catalog=OrdersMarketCatalog(orders)
        )
        accounts.residency = Residency(self.settings.records.data_regions)
        # durable like self.db, without retryable writes: the journal's appends, and the
        # audit trail's blocks and the compliance monitor's inserts, which settle an
        # unconfirmed write themselves (deterministic ids, duplicates skipped; the trail's
        # _landed matches writer and hash): at the store's cap of 10,000 reply records a
        # retryable write costs ~5 ms of its CPU, and these are written with every order
        self.idempotent_db = self.idempotent_client.get_database(
            self.settings.mongodb_db, write_concern=DURABLE_WRITES
        )
        journal = MongoJournal(self.idempotent_db)
        self.writer = EngineWriter(
            journal, ENGINE_CONFIG, snapshot_after_replay=self.settings.snapshot_after_replay
        )
        self.lease = MongoLease(self.db, ttl_s=self.settings.writer_lease_seconds)
        self.directory = MongoEngineDirectory(
            self.db, ENGINE_CONFIG.max_accounts, ENGINE_CONFIG.max_assets, ENGINE_CONFIG.max_markets
        )
        self.engines = EngineRoles(
            self.settings, journal, self.writer, self.directory, ENGINE_CONFIG, self.lease.owner
        )
        trading_repo = MongoTradingRepository(self.db)
        self.venue = (
            LiveSimulatedVenue(demo_venue_specs(), seed=7)
            if self.settings.venue == "simulated"
            else None
        )
        router = (
            ExternalRouter(self.venue, self.engines.bus, self.directory)
            if self.venue is not None
            else None
        )
        compliance = ComplianceComponents(self.db, self.broker, idempotent_db=self.idempotent_db)
        self.writer.more_figures.append(compliance.audit.figures)  # caas_audit_*
        trading = TradingService(
            trading_repo,
            accounts,
            self.engines.bus,
            self.directory,
            router,
            compliance.gate,
            funding_interval_ns=int(self.settings.perp.funding_interval_seconds * 1e9),
        )
        trading.countdowns = MongoCountdowns(self.db)
        modes = TradingModeService(MongoAccountsRepository(self.db), self.broker)
        wind_down = WindDown(self.engines.bus, self.directory, modes, trading.forget_tenant_config)
        modes.enforcer = wind_down
        self.directory.on_new_account.append(wind_down.on_new_account)
        sandbox_tenants = MongoAccountsRepository(self.db)
        sandbox = SandboxService(
            accounts, sandbox_tenants, sandbox_tenants, MongoFaucetUsage(self.db),
            SandboxDesk(trading, self.engines.bus, self.directory, self.directory, modes),
        )  # fmt: skip
        self.countdowns = CountdownRunner(trading.countdowns, trading)
        self.perp_runtime = PerpRuntime(trading, self.engines.bus, self.settings.perp, self.venue)
        balances = MongoBalances(self.db)
        self.reconciler = ContinuousReconcile(
            self.writer, self.directory, balances, self.settings.reconcile_seconds
        )
        self.writer.more_figures.append(self.reconciler.figures)
        self.round_folding = RoundFolding(
            self.read_models, self.funding_folds(), lambda: self.writer.projections.projected_seq,
            lambda: self.writer.stats.last_snapshot_seq, self.settings.perp.fold_seconds,
            self.settings.perp.fold_rounds,
        )  # fmt: skip
        self.writer.more_figures.append(self.round_folding.figures)
        self.writer.more_figures.append(self._fanout_figures)
        positions_repo = MongoPositionsRepository(self.db)
        self.custody_steps = CustodySteps(self.db)  # which custody steps the journal holds
        writes = self.settings.role not in (ROLE_API, ROLE_EDGE)
        if writes and (self.rebuild or not self.read_only):  # projectors: the writer's job
            orders_projector = OrdersProjector(
                MongoTradingRepository(self.read_models), self.writer, self.directory,
                trading.spec, self.broker, trading.recent_orders,
            )  # fmt: skip
            self.engines.add_projectors(
                immediate=[orders_projector.track, self.custody_steps],  # read back at once
                after_answer=[MarketStreamsProjector(self.directory, trading.spec, self.broker)],
                deferred=[  # the read models, in bulk behind the journal
                    orders_projector.persist,
                    BalancesProjector(MongoBalances(self.read_models), self.directory, self.broker),
                    LedgerProjector(self.read_models, self.directory, trading.spec),
                    PositionsProjector(
                        MongoPositionsRepository(self.read_models),
                        self.directory,
                        trading.spec,
                        self.broker,
                    ),
                    compliance.monitor(self.directory, trading.spec),
                ],
            )
        consistency = self.engines.consistency()
        self.busts = TradeBustService(
            self.db, trading_repo, trading, self.engines.bus, self.directory, consistency
        )
        self.services = {
            **self._auth_services(),
            ReadYourWrites: consistency,
            ReadModels: consistency,
            AccountsService: accounts,
            SandboxService: sandbox,
            TenantRegions: TenantRegions(MongoAccountsRepository(self.db), accounts.residency),
            TradingModeService: modes,
            OrdersService: orders,
            TradingService: trading,
            TradeBustService: self.busts,
            MongoBalances: balances,
            BalanceStreams: BalanceStreams(self.hub),
            MarketStreams: MarketStreams(trading, self.hub),
            PositionsService: PositionsService(
                positions_repo, trading.spec, BalanceWallets(balances)
            ),
            PerpetualCommands: PerpetualCommands(trading),
            PositionStreams: PositionStreams(self.hub),
            **self._custody_services(accounts, compliance, modes),
            **compliance.services(),
            ReportService: compliance.reports(MongoReportSources(self.db, self.directory)),
            **self._billing_services(consistency.settled),
        }
        self.purger = RecordPurger(self.db, compliance.audit, self.get(MongoAuthAudit),
                                   self.settings.records.purge_seconds)  # fmt: skip
        self.services[RecordPurge] = self.purger
        self.writer.more_figures.append(self.purger.figures)
        self.writer_jobs = self._writer_jobs()
        if self.settings.role == ROLE_EDGE and self.engines.redis is not None:  # no engine here
            self.engines.bus.edge = True
            trading.book_reader = RedisBookReader(self.engines.redis, self.settings.relay_prefix)

    def _billing_services(self, settled: Callable[[], Awaitable[None]]) -> dict[type, object]:
        """The request meter (every serving process) and billing over the ledger."""
        repo = MongoBillingRepository(self.db)
        meter = UsageMeter(repo)
        self.writer.more_figures.append(meter.figures)
        ledger = MongoBillingLedger(self.db, self.directory)
        billing = BillingService(
            repo, MongoAccountsRepository(self.db), ledger, ledger, meter, settled
        )
        return {UsageMeter: meter, BillingService: billing}

    async def migrate_funding_payments(self) -> int:
        """``funding_payments`` as funding round entries (once; the documents inserted)."""
        repository = MongoPositionsRepository(self.read_models)
        return await repository.migrate_payments(self.get(TradingService).spec)

    def funding_folds(self, db: Database | None = None) -> list[Folded]:
        """The read models a funding round's documents fold into (graph/writer/round_folding.py),
        of this platform's database or another (``caas settlement rebuild``)."""
        target = self.read_models if db is None else db
        positions, balances = MongoPositionsRepository(target), MongoBalances(target)
        return [Folded("positions", positions.fold_rounds, positions.rounds_since),
                Folded("balances", balances.fold_rounds, balances.rounds_since)]  # fmt: skip

    def _writer_jobs(self) -> WriterJobs:
        """The background jobs of the writer role (graph/writer/jobs.py): started on taking
        the lease, stopped on losing it or stopping, started again on taking it back."""
        jobs = WriterJobs()
        jobs.add("simulated-chain", self._start_chain, self.chain.stop)  # + custody's blocks
        jobs.add("perp-runtime", self.perp_runtime.start, self.perp_runtime.stop)
        jobs.add("reconcile", self.reconciler.start, self.reconciler.stop)
        jobs.add("countdowns", self.countdowns.start, self.countdowns.stop)
        jobs.add("retention-purge", self.purger.job.start, self.purger.job.stop)
        jobs.add("round-folding", self.round_folding.start, self.round_folding.stop)
        jobs.add("trade-busts", self.busts.start_resume, self.busts.stop_resume)
        self.writer.more_figures.append(jobs.figures)
        self.writer.more_figures.append(lambda: {"caas_chain_height": self.chain.height})
        return jobs

    def _custody_services(
        self, accounts: AccountsService, compliance: ComplianceComponents,
        trading_modes: TradingModeService,
    ) -> dict[type, object]:  # fmt: skip
        """Wallets, deposits, withdrawals, governance and proofs over the simulated chain."""
        repo = MongoCustodyRepository(self.db)
        self.chain = SimulatedChain(sorted(SUPPORTED_ASSETS), persist=repo.save_chain)
        ring = custody_ring(self.settings)
        custody = CustodyService(repo, accounts, self.directory, SecretSealer(ring), self.chain)
        money = CustodyMoney(self.engines.bus, self.directory, self.custody_steps)
        governance = Governance(repo, self.settings.custody.blocked_addresses)
        ledger = SubLedger(repo)  # omnibus tenants' shares of the platform's wallets
        deposits = DepositWatcher(
            repo, custody, self.chain, money, self.settings.custody.confirmations, ledger
        )
        withdrawals = WithdrawalService(repo, custody, governance, money, self.chain,
                                        deposits.confirmations,
                                        ComplianceWithdrawalChecks(compliance),
                                        ledger)  # fmt: skip
        withdrawals.tenant_modes = trading_modes  # HALTED tenants withdraw nothing
        salt_key = reserve_salt_secret(next(iter(ring.values())))
        reserves = ReservesService(
            repo, custody, money, self.directory, self.chain, salt_key, ledger
        )
        treasury = TreasuryService(repo, custody, governance, withdrawals, self.chain)
        self.custody_runtime = CustodyRuntime(deposits, withdrawals, treasury)
        self._custody_repo = repo
        modes = CustodyModes(repo, ledger, reserves, SUPPORTED_ASSETS)
        services: dict[type, object] = {
            CustodyService: custody, Governance: governance, WithdrawalService: withdrawals,
            DepositWatcher: deposits, ReservesService: reserves, SubLedger: ledger,
            TreasuryService: treasury, CustodyModes: modes,
        }  # fmt: skip
        # the chain and the deposit watcher run in the writer: elsewhere these are forwarded
        calls = CustodyCalls(services, self.engines.writer_calls)
        if self.engines.call_server is not None:
            self.engines.call_server.handler = calls.serve
        services[CustodyCalls] = calls
        return services

    async def _start_chain(self) -> None:
        """The simulated chain runs in the writer: restore it, watch, mine on its timer."""
        txs, height = await self._custody_repo.load_chain()
        self.chain.restore(txs, height)
        await self.get(CustodyService).watch_everything()
        if self.custody_runtime.on_block not in self.chain.on_block:  # once, however many
            self.chain.on_block.append(self.custody_runtime.on_block)  # times it takes over
        if self.settings.custody.block_seconds > 0:
            self.chain.start(self.settings.custody.block_seconds)

    def _auth_services(self) -> dict[type, object]:
        """API keys, customer tokens, the auth audit and the authenticator (security/authn.py)."""
        auth = self.settings.auth
        sealing_ring, token_ring = auth.rings()
        repository = MongoAccountsRepository(self.db)
        keys = ApiKeyService(repository, SecretSealer(sealing_ring), auth.signature_policy)
        tokens = CustomerTokens(repository, token_ring)
        audit = MongoAuthAudit(self.db)
        replay = make_replay_guard(self.settings.redis_url, auth.signature_window_ms)
        recorder = AuthAuditRecorder(audit)
        authenticator = Authenticator(keys, tokens, replay, recorder, auth)
        return {
            ApiKeyService: keys,
            CustomerTokens: tokens,
            MongoAuthAudit: audit,
            Authenticator: authenticator,
            ReportSigning: ReportSigning(sealing_ring),  # exports' signatures (reports)
        }

    async def start(self) -> None:
        """Indexes, broker, then the engine: recover from snapshot + journal, sync markets.
        The store steps are tried again while the store's connection fails (a failover)."""
        tune_gc()
        await until_the_store_answers(lambda: ensure_indexes(self.db, ALL_INDEXES), "indexes")
        await until_the_store_answers(self._custody_repo.migrate, "custody migration")
        if not self.read_only:  # funding history stored before rounds were per market
            await until_the_store_answers(self.migrate_funding_payments, "funding migration")
        if not self.read_only:  # tenants stored before regions were recorded
            await until_the_store_answers(self.get(TenantRegions).assign_default, "regions")
        await self.broker.start()
        await until_the_store_answers(self.directory.load, "engine directory")
        if not self.read_only:
            self.get(UsageMeter).start()  # API calls counted here reach billing_usage
        if self.read_only:  # tools (reconcile): the recovered state, never a second writer
            await self.writer.recover()
            return
        if self.settings.role == ROLE_EDGE:  # no engine: books from Redis, no commands
            self.role = "edge"
            return
        if self.settings.role == ROLE_API:  # never the writer: forward, read a replica
            self.role = "api"
            await self.engines.follow()
            return
        if not await until_the_store_answers(self.lease.acquire, "writer lease"):
            self.role = "standby"
            await self.engines.follow()
            log.warning("another process holds the engine writer lease; serving as standby")
            self._standby = asyncio.create_task(self._wait_for_lease(), name="standby")
            return
        await self._become_writer()

    async def _become_writer(self) -> None:
        """Holding the lease: catch up with the journal, take commands, keep the lease."""
        # indices other processes assigned meanwhile
        await until_the_store_answers(self.directory.load, "engine directory")
        await self.engines.become_writer()
        self.role = "writer"
        self.lease.keep(on_lost=self._step_down)
        await self.get(TradingService).sync_markets()
        await self.writer_jobs.start_all()
        resumed = await self.get(TradingService).resume_routes()
        if resumed:
            log.warning("finished %d external routes a restart interrupted", resumed)
        log.info("engine writer", extra={"engine_seq": self.writer.engine.last_seq})

    async def _wait_for_lease(self) -> None:
        """A standby takes over when the writer's lease expires (it died or stepped down)."""
        while True:
            await asyncio.sleep(self.lease.ttl_s / 3)
            try:
                if await self.lease.acquire():
                    await self._become_writer()
                    return
            except Exception:
                log.exception("standby could not take over; retrying")
        log.info(
            "platform started",
            extra={"database": self.settings.mongodb_db, "engine_seq": self.writer.engine.last_seq},
        )

    async def close(self) -> None:
        """Stop the writer (a snapshot first, so the next start replays little), then I/O."""
        await self.get(Authenticator).close()
        await self.get(UsageMeter).close()  # the calls counted since the last flush
        await self.get(AuditTrail).drain(AUDIT_DRAIN_S)  # the records still queued
        if self._standby is not None:
            self._standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._standby
        if self.read_only or self.role != "writer":
            await self.engines.close()
            await self.hub.close()
            await self.broker.close()
            await self.client.close()
            await self.idempotent_client.close()
            return
        await self.writer_jobs.stop_all()
        await self.engines.stop_relaying()  # relayed commands in flight finish first
        try:
            await self.writer.snapshot_now()
        except Exception:
            log.exception("shutdown snapshot failed; the journal still covers everything")
        await self.writer.stop()
        if self.venue is not None:
            await self.venue.close()
        await self.chain.stop()
        await self.lease.release()
        await self.engines.close()
        await self.hub.close()
        await self.broker.close()
        await self.client.close()
        await self.idempotent_client.close()

    def _step_down(self) -> None:
        """Lease lost: stop taking commands at once (another writer may be starting), then
        follow the journal as a standby and wait for the lease again."""
        self.role = "standby"
        self.engines.bus.local = False

        async def stand_by() -> None:
            try:  # the lease is often lost because the store is away: so may this be
                await self.writer_jobs.stop_all()  # none may act beside the next writer
                await self.engines.step_down()
            except Exception:
                log.exception("stepping down did not finish; waiting for the lease anyway")
            self._standby = asyncio.create_task(self._wait_for_lease(), name="standby")

        asyncio.get_running_loop().create_task(stand_by(), name="writer-step-down")

    def _fanout_figures(self) -> dict[str, float]:
        """``caas_fanout_*``: Redis publications of this process (the broker's and the
        writer's own) sent, dropped (Redis away or the outbox full), failed pipelines, and
        queued now; nothing without Redis."""
        outboxes = [self.engines.fanout] if self.engines.fanout is not None else []
        stats = [outbox.stats for outbox in outboxes]
        pending = sum(outbox.pending for outbox in outboxes)
        if isinstance(self.broker, RedisBroker):
            stats.append(self.broker.figures())
            pending += self.broker.pending
        if not stats:
            return {}
        return {
            "caas_fanout_sent": sum(s.sent for s in stats),
            "caas_fanout_dropped": sum(s.dropped for s in stats),
            "caas_fanout_failures": sum(s.failures for s in stats),
            "caas_fanout_pending": pending,
        }

    async def readiness(self) -> dict[str, bool]:
        """Whether each dependency answers right now."""

        async def store() -> bool:
            try:
                await asyncio.wait_for(self.client.admin.command("ping"), timeout=2)
                return True
            except (PyMongoError, TimeoutError):
                return False

        async def broker() -> bool:
            try:
                return await asyncio.wait_for(self.broker.ping(), timeout=2)
            except TimeoutError:
                return False

        store_ok, broker_ok = await asyncio.gather(store(), broker())
        return {"store": store_ok, "broker": broker_ok}

    @property
    def engine_seq(self) -> int | None:
        """The last sequence the engine this process reads has applied (None: no engine)."""
        if self.engines.bus.edge:
            return None
        return self.engines.bus.engine.last_seq

    def get(self, kind: type[S]) -> S:
        service = self.services[kind]
        assert isinstance(service, kind)
        return service
