"""`caas`: serve, schema export, seed-demo, store start, bench."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from graph.ops.embedded_store import EmbeddedStore, StoreStartError
from graph.settings import Settings

if TYPE_CHECKING:
    from hypercorn.config import Config
    from rich.progress import Progress

app = typer.Typer(help="CaaS platform: federated GraphQL back office.", no_args_is_help=True)
schema_app = typer.Typer(help="Schema tools.", no_args_is_help=True)
store_app = typer.Typer(help="The embedded MongoDB-wire store.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (figures, not tests).", no_args_is_help=True)
engine_app = typer.Typer(help="The matching engine.", no_args_is_help=True)
settlement_app = typer.Typer(help="Redundant settlement.", no_args_is_help=True)
billing_app = typer.Typer(help="Billing of institutions: invoices.", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
app.add_typer(store_app, name="store")
app.add_typer(bench_app, name="bench")
app.add_typer(engine_app, name="engine")
app.add_typer(settlement_app, name="settlement")
app.add_typer(billing_app, name="billing")
reports_app = typer.Typer(help="Regulatory bundles: verify, the public key.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")

console = Console(stderr=True)
SUBGRAPH_SDL_DIR = Path("graph/sdl")


@contextlib.contextmanager
def store_uri(settings: Settings) -> Iterator[str]:
    """MONGODB_URI if set; otherwise an embedded store for the duration of the block."""
    if settings.mongodb_uri:
        yield settings.mongodb_uri
        return
    try:
        store = EmbeddedStore(settings.data_dir / "mongo").start()
    except StoreStartError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    try:
        yield store.uri
    finally:
        store.stop()


def _print_keys(keys: list[object], url: str | None) -> None:
    from graph.ops.seed import DemoKey

    out = Console(soft_wrap=True)
    out.print("[bold]Demo credentials[/bold] (laptop demo only; send as the Authorization header)")
    for key in keys:
        assert isinstance(key, DemoKey)
        out.print(f"  {key.name:<13} {key.role:<13} Bearer {key.token}")
    out.print(
        "Signed requests (README, Authentication): `caas seed-demo --json` prints each demo "
        "key's signing secret."
    )
    if url:
        out.print(f"GraphQL + GraphiQL: [bold]{url}/graphql[/bold]   readiness: {url}/readyz")
        out.print(f"Risk dashboard: [bold]{url}/dashboard[/bold] (sign in with the risk key)")


async def _seed(settings: Settings, uri: str) -> list[object]:
    from graph.bootstrap import Platform
    from graph.ops.seed import seed_demo

    platform = Platform(settings, uri)
    await platform.start()
    try:
        return list(await seed_demo(platform))
    finally:
        await platform.close()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 8000).")] = None,
    demo: Annotated[bool, typer.Option(help="Seed demo data and print its keys first.")] = False,
    subgraph: Annotated[
        str | None,
        typer.Option(help="Serve only this subgraph (accounts, orders, ...) for a gateway."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(
            help="all: engine writer if it gets the lease, else standby (default, or CAAS_ROLE); "
            "api: no engine writer, commands go to the writer over Redis (needs REDIS_URL); "
            "edge: reads and streams only, no engine (needs REDIS_URL)."
        ),
    ] = None,
) -> None:
    """Serve the composed graph and every subgraph over HTTP and WebSocket."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from graph.http.app import create_app
    from graph.http.observability import configure_logging
    from graph.schema import SUBGRAPHS

    if subgraph is not None and subgraph not in {s.name for s in SUBGRAPHS}:
        console.print(f"[red]error:[/red] unknown subgraph {subgraph!r}")
        raise typer.Exit(code=2)
    settings = Settings.from_env()
    settings = dataclasses.replace(settings, role=(role or settings.role).strip().lower())
    if settings.role not in ("all", "api", "edge"):
        console.print(f"[red]error:[/red] unknown role {settings.role!r}; one of all, api, edge")
        raise typer.Exit(code=2)
    if settings.role == "edge" and not settings.redis_url:
        console.print("[red]error:[/red] --role edge reads the writer's order books from Redis: "
                      "set REDIS_URL (the writer must use the same Redis)")  # fmt: skip
        raise typer.Exit(code=2)
    if settings.role == "api" and not settings.redis_url:
        console.print("[red]error:[/red] --role api forwards commands to the engine writer "
                      "over Redis: set REDIS_URL (the writer must use the same Redis)")  # fmt: skip
        raise typer.Exit(code=2)
    if settings.role in ("api", "edge") and demo:
        console.print("[red]error:[/red] --demo seeds through the engine writer: "
                      "run it on the writer (role all), not on an api process")  # fmt: skip
        raise typer.Exit(code=2)
    configure_logging(settings.log_level)
    bind_host, bind_port = host or settings.host, port or settings.port
    config = Config()
    config.bind = [f"{bind_host}:{bind_port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    if settings.role == "all":
        _compile_engine_first(config, f"http://{bind_host}:{bind_port}")
    with store_uri(settings) as uri:
        if demo:
            _print_keys(asyncio.run(_seed(settings, uri)), f"http://{bind_host}:{bind_port}")

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            app = create_app(settings, uri, subgraph)
            await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

        asyncio.run(run())


def _compile_bar() -> Progress:
    """The kernels-compiled bar of `caas engine warm` and of a first `caas serve`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("compiling the matching engine", BarColumn(), MofNCompleteColumn(), "kernels",
               TimeElapsedColumn())  # fmt: skip
    return Progress(*columns, console=console)


def _compile_engine_first(config: Config, url: str) -> None:
    """On a cold Numba cache, compile the engine in a child process while the port answers
    /readyz with `engine: compiling` and its progress (graph/http/compiling.py)."""
    from engine.kernels import cache_is_warm

    if cache_is_warm():
        return
    from graph.http.compiling import CompileState, compile_while_answering

    console.print(f"first start: compiling the matching engine; {url}/readyz shows the progress")
    with _compile_bar() as bar:
        task = bar.add_task("compile", total=None)

        def show(state: CompileState) -> None:
            bar.update(task, completed=state.done, total=state.total)

        state = asyncio.run(compile_while_answering(config, show))
    if state.failed is not None:
        console.print(f"[red]error:[/red] compiling the matching engine failed: {state.failed}")
        raise typer.Exit(code=1)
    console.print("matching engine compiled; starting the server")


@app.command("seed-demo")
def seed_demo_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """Create the demo tenant, customers and markets (idempotent) and print the demo keys."""
    from graph.ops.seed import DemoKey, as_json_rows

    settings = Settings.from_env()
    with store_uri(settings) as uri:
        keys = asyncio.run(_seed(settings, uri))
    if as_json:
        rows = as_json_rows([k for k in keys if isinstance(k, DemoKey)])
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        _print_keys(keys, None)


@app.command()
def report(
    kind: Annotated[
        str,
        typer.Argument(
            help="trades, orders, movements, balances, alerts, cases, customers, kyc_decisions"
        ),
    ],
    tenant: Annotated[str, typer.Option(help="The tenant's id.")],
    since: Annotated[str, typer.Option("--from", help="Start, ISO-8601 with zone.")],
    until: Annotated[str, typer.Option("--to", help="End (balances: as of), ISO-8601.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
) -> None:
    """Export a compliance report of one tenant and period, streamed, with a progress bar."""
    from graph.reports.cli import export_report

    settings = Settings.from_env()
    with store_uri(settings) as uri:
        code = asyncio.run(export_report(settings, uri, kind, tenant, since, until, fmt, out))
    raise typer.Exit(code=code)


@reports_app.command("verify")
def reports_verify(
    bundle: Annotated[Path, typer.Argument(help="The zip from GET /reports/regulatory.")],
    public_key: Annotated[
        list[str] | None,
        typer.Option(help="A trusted public key (base64url; repeatable). Default: the keys "
                     "derived from this deployment's sealing ring."),
    ] = None,
) -> None:  # fmt: skip
    """Check a regulatory bundle: the manifest's signature and every file's SHA-256."""
    from graph.reports.regulatory import trusted_keys, verify_bundle

    keys = public_key or trusted_keys(Settings.from_env().auth.rings()[0])
    check = verify_bundle(bundle.read_bytes(), keys)
    for problem in check.problems:
        typer.echo(f"INVALID: {problem}", err=True)
    if check.valid:
        m = check.manifest
        typer.echo(f"valid: {len(m['files'])} files of tenant {m['tenant']} (region "
                   f"{m['data_region']}), {m['period']['from']} to {m['period']['to']}, "
                   f"signed by {check.signed_by}")  # fmt: skip
    raise typer.Exit(code=0 if check.valid else 1)


@reports_app.command("public-key")
def reports_public_key() -> None:
    """Print the public key regulatory bundles (and security reports) are signed with."""
    from graph.reports.regulatory import trusted_keys

    typer.echo(trusted_keys(Settings.from_env().auth.rings()[0])[0])


@app.command()
def reconcile() -> None:
    """Recompute balances from snapshot + journal and compare them with the read model."""
    from graph.bootstrap import Platform
    from graph.writer.reconcile import reconcile as run_reconcile

    settings = Settings.from_env()

    async def check() -> bool:
        from domains.accounts.balances import MongoBalances

        platform = Platform(settings, uri, read_only=True)
        await platform.start()
        try:
            report = await run_reconcile(
                platform.writer.engine, platform.directory, platform.get(MongoBalances), platform.db
            )
        finally:
            await platform.close()
        out = Console()
        out.print(f"engine at seq {platform.writer.engine.last_seq}, "
                  f"{report.accounts_checked} accounts checked")  # fmt: skip
        for line in report.differences + report.conservation:
            out.print(f"[red]difference:[/red] {line}")
        out.print("[green]books agree[/green]" if report.clean else "[red]books differ[/red]")
        return report.clean

    with store_uri(settings) as uri:
        clean = asyncio.run(check())
    raise typer.Exit(code=0 if clean else 1)


@billing_app.command("close-month")
def billing_close_month(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: last month, UTC).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's id.")] = None,
) -> None:
    """Issue each tenant's invoice for the month and post it to the ledger (idempotent)."""
    from graph.reports.billing_cli import close_month

    settings = Settings.from_env()
    with store_uri(settings) as uri:
        code = asyncio.run(close_month(settings, uri, month, tenant))
    raise typer.Exit(code=code)


@billing_app.command("export")
def billing_export(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: every month).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's id.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
) -> None:
    """Export issued invoices, one row per line, as CSV or JSON."""
    from graph.reports.billing_cli import export

    settings = Settings.from_env()
    with store_uri(settings) as uri:
        code = asyncio.run(export(settings, uri, month, tenant, fmt, out))
    raise typer.Exit(code=code)


@settlement_app.command("rebuild")
def settlement_rebuild(
    into: Annotated[
        str | None, typer.Option(help="The second database (new; default a dated name).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the second database afterwards.")] = False,
    quiet_seconds: Annotated[
        float, typer.Option(help="Wait until the journal has not grown for this long first.")
    ] = 1.0,
) -> None:
    """Rebuild every read model and the ledger from the journal into a second database and
    compare them with the live ones: exit 0 equal, 1 different, 2 inconclusive (the live
    journal moved meanwhile) or not run."""
    from graph.ops.settlement import quiet, rebuild, summary

    settings = Settings.from_env()
    target = into or f"{settings.mongodb_db}_settlement_{time.strftime('%Y%m%dT%H%M%S')}"

    async def run(uri: str) -> int:
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
        try:
            await quiet(client[settings.mongodb_db], quiet_seconds)
        finally:
            await client.close()
        try:
            report = await rebuild(settings, uri, target, keep=keep)
        except ValueError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 2
        out = Console(soft_wrap=True)
        for line in summary(report):
            out.print(line, markup=False, highlight=False)
        if not report.clean and report.moved:
            out.print("settlement: inconclusive (the live journal moved)")
            return 2
        out.print("settlement: rebuilt read models equal the live ones"
                  if report.clean else "settlement: DIFFERENT")  # fmt: skip
        return 0 if report.clean else 1

    with store_uri(settings) as uri:
        code = asyncio.run(run(uri))
    raise typer.Exit(code=code)


@schema_app.command("export")
def schema_export(
    out: Annotated[Path, typer.Option(help="Where to write the public schema.")] = Path(
        "schema.graphql"
    ),
    subgraphs_dir: Annotated[
        Path, typer.Option(help="Where to write each subgraph's SDL.")
    ] = SUBGRAPH_SDL_DIR,
) -> None:
    """Write schema.graphql (the composed public schema) and each subgraph's SDL."""
    from graph.schema import PublicSchema, build_subgraphs

    out.write_text(PublicSchema().public_sdl())
    subgraphs_dir.mkdir(parents=True, exist_ok=True)
    for name, schema in build_subgraphs().items():
        (subgraphs_dir / f"{name}.graphql").write_text(schema.as_str() + "\n")
    console.print(f"wrote {out} and {len(build_subgraphs())} subgraph SDLs in {subgraphs_dir}")


@store_app.command("start")
def store_start(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free).")] = 27017,
) -> None:
    """Run the embedded store in the foreground until Ctrl-C."""
    settings = Settings.from_env()
    try:
        store = EmbeddedStore(settings.data_dir / "mongo", port=port or None).start()
    except StoreStartError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    console.print(f"embedded store listening: MONGODB_URI={store.uri}")
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        store.stop()


@engine_app.command("warm")
def engine_warm(
    progress_lines: Annotated[
        bool,
        typer.Option(help="Print 'progress <done> <total>' lines on stdout instead of a bar."),
    ] = False,
) -> None:
    """Compile the engine's kernels into Numba's disk cache (minutes once, then seconds)."""
    from engine.kernels import cache_is_warm
    from engine.warmup import warm

    if progress_lines:

        def line(done: int, total: int) -> None:
            sys.stdout.write(f"progress {done} {total}\n")
            sys.stdout.flush()

        seconds = warm(line)
    elif cache_is_warm():
        seconds = warm()
    else:
        with _compile_bar() as bar:
            task = bar.add_task("compile", total=None)
            seconds = warm(lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"matching engine ready ({seconds:.1f} s)")


@bench_app.command("engine")
def bench_engine(
    n: Annotated[int, typer.Option(help="Commands in the workload.")] = 5_000_000,
    seed: Annotated[int, typer.Option(help="Workload seed.")] = 1,
    cold_compile: Annotated[
        bool,
        typer.Option(
            help="First time a cold `caas engine warm` (a child compiling every "
            "kernel into an empty cache directory; the real cache is untouched)."
        ),
    ] = False,
) -> None:
    """Replay a generated workload through the matching engine and print its speed."""
    from engine.bench import run as run_engine_bench

    if cold_compile:
        console.print(f"cold compile (caas engine warm, empty cache): {_cold_compile():.1f} s")
    run_engine_bench(n, seed=seed, progress=True)  # prints its table and summary line


def _cold_compile() -> float:
    """Seconds a child process takes to compile every kernel with an empty Numba cache
    (NUMBA_CACHE_DIR in a temporary directory), measured from its start."""
    import os
    import subprocess
    import tempfile
    import time

    with tempfile.TemporaryDirectory(prefix="caas-cold-compile-") as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        started = time.perf_counter()
        subprocess.run(  # our own interpreter and module
            [sys.executable, "-c", "from engine.warmup import warm; warm()"],
            env=env, check=True,
        )  # fmt: skip
        return time.perf_counter() - started


@bench_app.command("risk")
def bench_risk(
    positions: Annotated[int, typer.Option(help="Open positions.")] = 1_000_000,
    accounts: Annotated[int, typer.Option(help="Accounts holding them.")] = 10_000,
    markets: Annotated[int, typer.Option(help="Perpetual markets.")] = 50,
) -> None:
    """Time from a mark price change to every due liquidation (one market, all markets)."""
    from engine.risk_bench import run as run_risk_bench

    run_risk_bench(positions, accounts, markets)


@bench_app.command("orders")
def bench_orders(
    seconds: Annotated[float, typer.Option(help="Seconds per measured phase.")] = 10.0,
    clients: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 32,
    processes: Annotated[
        int, typer.Option(help="API processes in front of the one writer (1: the writer alone).")
    ] = 1,
) -> None:
    """placeOrder over HTTP vs a trivial query and plain strawberry, and the journal alone."""
    from graph.ops.bench import run as run_orders_bench

    typer.echo(run_orders_bench(seconds, clients, processes))


@bench_app.command("funding")
def bench_funding(
    positions: Annotated[int, typer.Option(help="Open positions the round settles.")] = 10_000,
    rounds: Annotated[int, typer.Option(help="Rounds measured one after another.")] = 3,
) -> None:
    """Funding rounds over many positions: the writer's stall, the read models' lag."""
    from graph.ops.funding_bench import run as run_funding_bench

    typer.echo(run_funding_bench(positions, rounds))


@bench_app.command("fanout")
def bench_fanout(
    subscribers: Annotated[int, typer.Option(help="Websocket subscribers of one book.")] = 1000,
    rate: Annotated[float, typer.Option(help="Book changes per second.")] = 10.0,
    seconds: Annotated[float, typer.Option(help="Measured seconds.")] = 60.0,
    clients: Annotated[int, typer.Option(help="Subscriber client processes.")] = 4,
    role: Annotated[
        str,
        typer.Option(
            help="all: one server process (the writer) serves everything; edge: subscribers "
            "on a --role edge process, orders to a separate writer, through REDIS_URL."
        ),
    ] = "all",
) -> None:
    """orderBook stream fan-out: delivered msg/s and latency for many subscribers."""
    from graph.ops.fanout_bench import run as run_fanout_bench

    typer.echo(run_fanout_bench(subscribers, rate, seconds, clients, role))


@app.command()
def soak(
    kills: Annotated[
        int, typer.Option(envvar="CAAS_SOAK_KILLS", help="SIGKILLs of the writer under load.")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the kill points, faults and stress.")] = 1,
    clients: Annotated[int, typer.Option(help="Concurrent placeOrder clients.")] = 4,
    lease_seconds: Annotated[float, typer.Option(help="The servers' writer lease.")] = 3.0,
    takeover: Annotated[bool, typer.Option(help="Also kill a writer beside a standby.")] = True,
    faults: Annotated[
        bool, typer.Option(help="A seeded fault schedule on the store link (graph.ops.faultproxy).")
    ] = True,
    stress_commands: Annotated[
        int, typer.Option(help="Seeded engine stress commands afterwards (0: none).")
    ] = 1_000_000,
    store_uri: Annotated[
        str | None, typer.Option(help="A single-host store to use (default: an embedded one).")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the store and server logs here (default: a temp dir).")
    ] = None,
) -> None:
    """Crash loop: SIGKILL the writer under order load, restart, check nothing acknowledged
    is lost; a standby takeover; the seeded engine stress; one summary line at the end."""
    from graph.ops.soak import SoakConfig, run_soak

    config = SoakConfig(
        kills=kills, seed=seed, clients=clients, lease_s=lease_seconds, takeover=takeover,
        faults=faults, stress_commands=stress_commands,
    )  # fmt: skip
    started = time.monotonic()
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    result = run_soak(config, store_uri, workdir=workdir, say=lambda line: console.print(
        f"{time.monotonic() - started:6.1f} s  {line}"))  # fmt: skip
    takeover_s = f"{result.takeover_s:.2f} s" if result.takeover_s is not None else "not run"
    console.print(
        f"orders: {result.submitted} submitted, {result.acknowledged} acknowledged, "
        f"{result.unknown} unknown then resolved ({result.unknown_ran} ran, "
        f"{result.unknown_not_run} did not); faults {dict(result.faults)}; takeover "
        f"{takeover_s} (lease {lease_seconds:g} s); restarts up to "
        f"{max(result.restart_s, default=0):.1f} s; {result.wall_s:.0f} s"
    )
    for problem in result.problems:
        console.print(f"[red]problem:[/red] {problem}")
    if result.stress_line:
        typer.echo(result.stress_line)
    typer.echo(result.line())
    raise typer.Exit(code=0 if result.ok else 1)


@app.command()
def watch(
    stream: Annotated[str, typer.Argument(help="The stream: BOOK.")],
    market: Annotated[str, typer.Argument(help="Market symbol, e.g. BTC-USDT.")],
    url: Annotated[str, typer.Option(help="Server URL.")] = "http://127.0.0.1:8000",
    token: Annotated[str | None, typer.Option(envvar="CAAS_TOKEN", help="API key.")] = None,
    every: Annotated[float, typer.Option(help="Seconds between checks.")] = 5.0,
    depth: Annotated[int, typer.Option(help="Snapshot depth.")] = 500,
    duration: Annotated[float | None, typer.Option(help="Stop after seconds.")] = None,
) -> None:
    """Keep a local book from the stream; print any divergence from the orderBook query."""
    from graph.streams.watch import watch as watch_book

    if stream.upper() != "BOOK":
        raise typer.BadParameter("only BOOK streams can be watched", param_hint="STREAM")
    found = asyncio.run(watch_book(url, token, market, every, depth, typer.echo, duration))
    raise typer.Exit(1 if found else 0)


if __name__ == "__main__":
    app()


@app.command("cold-keygen")
def cold_keygen(
    asset: Annotated[str, typer.Option(help="Asset of the cold wallet: BTC, ETH or USDT.")],
    out: Annotated[Path, typer.Option(help="Key file to write (keep it offline).")],
    demo_tenant: Annotated[
        str | None,
        typer.Option(help="Re-create a demo tenant's key from CAAS_DEMO_SEED (demo only)."),
    ] = None,
) -> None:
    """Make a cold wallet key offline: writes the key file, prints the xpub to give the server."""
    import os

    from domains.custody.cold import ColdSigningError, demo_seed, new_key_file

    seed = None
    if demo_tenant is not None:
        seed = demo_seed(os.environ.get("CAAS_DEMO_SEED", "caas-demo"), demo_tenant, asset.upper())
    try:
        content = new_key_file(asset, seed)
    except ColdSigningError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    out.write_text(json.dumps(content, indent=2) + "\n")
    out.chmod(0o600)
    sys.stdout.write(content["xpub"] + "\n")


@app.command("cold-sign")
def cold_sign(
    key: Annotated[Path, typer.Option(help="The cold wallet's key file (`caas cold-keygen`).")],
    payload: Annotated[
        Path, typer.Option(help="The withdrawal's unsignedTransaction, as exported; - for stdin.")
    ],
) -> None:
    """Sign an exported transaction offline; prints the signed JSON for submitColdSignature."""
    from domains.custody.cold import ColdSigningError, sign
    from domains.custody.keys import InvalidKeyError

    unsigned = sys.stdin.read() if str(payload) == "-" else payload.read_text()
    try:
        signed = sign(json.loads(key.read_text()), unsigned.strip())
    except (ColdSigningError, InvalidKeyError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    sys.stdout.write(signed + "\n")


@app.command("security-report")
def security_report(
    out: Annotated[Path, typer.Option(help="Where the dated report goes.")] = Path("var/security"),
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: pip-audit is recorded as not checked.")
    ] = False,
    verify: Annotated[
        Path | None,
        typer.Option(help="Verify a report's signature (FILE.json, its .sig beside it); no run."),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(help="Read the security tests' results from this junit XML of a suite "
                     "run (make unit writes var/ci/pytest.xml) instead of running them."),
    ] = None,
) -> None:  # fmt: skip
    """The security evidence pack: bandit, pip-audit, the security tests; a signed report."""
    from graph.ops.security_report import main

    say = lambda line: typer.echo(line, err=True)  # noqa: E731
    raise typer.Exit(main(out, offline, verify, say, junit))
