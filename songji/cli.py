"""``songji``: run the system, write the event schemas."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shared.runtime.logging import configure_logging
from songji.audit import cli as audit_cli
from songji.dlq import cli as dlq_cli

if TYPE_CHECKING:
    from shared.runtime.keys import Resealed, SealedColumn

# No local variables in tracebacks: some commands hold keys.
app = typer.Typer(help="Songji (送技): vocational training for migrant workers where they work.",
                  no_args_is_help=True, pretty_exceptions_show_locals=False)
schemas_app = typer.Typer(help="The JSON Schemas of the event contracts.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(dlq_cli.app, name="dlq")
keys_app = typer.Typer(help="The keys that seal data at rest.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

STATE_DIR = Path(os.environ.get("SONGJI_STATE_DIR", ".songji"))
README = Path(__file__).resolve().parents[1] / "README.md"  # the checkout's README
LOCAL_WEBHOOKS = "SONGJI_WEBHOOK_ALLOW_LOCAL"


@app.command()
def up(
    base_port: Annotated[int, typer.Option(help="Port of the first service; the rest follow")]
    = 8001,
    console_port: Annotated[int, typer.Option(help="Port of the department console")] = 8000,
    replicas: Annotated[int, typer.Option(
        min=1, max=8, help="Processes of each service, on its one database (one runs its "
                           "relay; the others' consumers share the partitions)")] = 1,
) -> None:
    """Start the embedded PostgreSQL and broker (unless POSTGRES_URL / KAFKA_BOOTSTRAP_SERVERS
    point elsewhere) and all six services, each in its own process. Ctrl-C stops everything."""
    from console.launch import start_console, stop_console, wait_console
    from shared.infra.provision import kafka_broker, postgres_server
    from songji.launcher import Launcher

    configure_logging("INFO", "console")
    _stop_on_signals()
    with postgres_server() as pg_url, kafka_broker() as bootstrap:
        # A system to explore on this machine: webhooks may go to a receiver on it (http,
        # loopback) unless the environment says otherwise. Deployments keep the default: off.
        local = {} if LOCAL_WEBHOOKS in os.environ else {LOCAL_WEBHOOKS: "true"}
        launcher = Launcher(postgres_url=pg_url, kafka_bootstrap=bootstrap,
                            state_dir=STATE_DIR, base_port=base_port, extra_env=local,
                            replicas=replicas)
        console = None
        try:
            primaries = asyncio.run(launcher.start())
            processes = launcher.everything()
            console = start_console(STATE_DIR, {n: p.url for n, p in primaries.items()},
                                    console_port)
            console_url = f"http://127.0.0.1:{console_port}"
            wait_console(console, console_url)
            typer.echo(f"\nThe department console: {console_url}  (sign in with a token from "
                       f"{STATE_DIR / 'tokens.env'}, or org id and password from "
                       f"{STATE_DIR / 'console-passwords.env'})")
            typer.echo("Songji is up. Kafka bootstrap servers: " + bootstrap)
            for svc in processes:
                typer.echo(f"  {svc.label:<16} {svc.url}  (API docs {svc.url}/docs, "
                           f"log {svc.log_file})")
            if (STATE_DIR / "tokens.env").exists():
                typer.echo(f"Bearer tokens of the local organisations: {STATE_DIR / 'tokens.env'}")
            typer.echo("Press Ctrl-C to stop.")
            while all(p.process.poll() is None for p in processes):
                time.sleep(1)
            dead = [p.label for p in processes if p.process.poll() is not None]
            typer.echo(f"stopped: {', '.join(dead)} exited; see their logs", err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("\nstopping...")
        finally:
            if console is not None:
                stop_console(console)
            launcher.stop()
    typer.echo("stopped cleanly")


MAX_DEMO_WORKERS = 20_000
WorkersOption = Annotated[int, typer.Option(
    min=2, max=MAX_DEMO_WORKERS,
    help="How many workers the station registers: they fill as many classes of at most 60 "
         "as they need. On a 2-CPU machine the 149 take about half a minute, 2,000 about 5 "
         "minutes, 20,000 well over an hour (docs/benchmarks.md)")]
SeedOption = Annotated[int, typer.Option(help="Seed of the synthetic workers, attendance "
                                              "and scores")]


@app.command()
def demo(
    workers: WorkersOption = 149,
    seed: SeedOption = 2025,
    base_port: Annotated[int, typer.Option(help="Port of the first service, as `songji up` "
                                                "was given")] = 8001,
) -> None:
    """Play the Fukang class of 2025 through the public APIs of running services (start them
    with `songji up`), then print the totals and the auditor's verdict. Funding's test clock
    must be on (SONGJI_TEST_CLOCK=true) for the public notice to pass."""
    from shared.eventsourcing.topics import SERVICES
    from shared.infra.dev_organisations import dev_tokens
    from shared.infra.stores import store_dsns
    from songji.demo.runner import run_demo

    urls = {name: os.environ.get(f"SONGJI_{name.upper()}_URL",
                                 f"http://127.0.0.1:{base_port + i}")
            for i, name in enumerate(SERVICES)}
    try:
        tokens = dev_tokens(STATE_DIR)
    except FileNotFoundError:
        typer.echo(f"no {STATE_DIR / 'tokens.env'}: start the services with `songji up`",
                   err=True)
        raise typer.Exit(2) from None
    try:
        dsns: dict[str, str] | None = store_dsns(SERVICES, STATE_DIR)
    except LookupError:
        dsns = None
    raise typer.Exit(asyncio.run(run_demo(urls, tokens, workers=workers, seed=seed,
                                          dsns=dsns)))


@app.command()
def run(
    workers: WorkersOption = 149,
    seed: SeedOption = 2025,
    replicas: Annotated[int, typer.Option(min=1, max=8, help="Processes of each service, "
                                                             "as `songji up --replicas`")] = 1,
) -> None:
    """What `make run` does: start the embedded PostgreSQL and broker and the six services,
    play the Fukang class end to end, print the totals and the auditor's verdict, stop
    everything. Exit 0 on success. (`songji up` keeps a system running for exploration.)"""
    from shared.infra.dev_organisations import dev_tokens
    from shared.infra.provision import kafka_broker, postgres_server
    from songji.demo.runner import run_demo
    from songji.launcher import Launcher

    configure_logging("WARNING", "console")
    _stop_on_signals()
    state_dir = STATE_DIR / "run"
    started = time.monotonic()
    code = 1
    typer.echo("Starting PostgreSQL, the Kafka-protocol broker and the six services...")
    with postgres_server() as pg_url, kafka_broker() as bootstrap:
        launcher = Launcher(postgres_url=pg_url, kafka_bootstrap=bootstrap,
                            state_dir=state_dir, database_prefix=f"songji_run{os.getpid()}",
                            topic_prefix=f"songji-run{os.getpid()}",
                            extra_env={"SONGJI_TEST_CLOCK": "true"}, replicas=replicas)
        try:
            processes = asyncio.run(launcher.start())
            typer.echo(f"Songji is up ({time.monotonic() - started:.1f}s); service logs in "
                       f"{state_dir / 'logs'}\n")
            code = asyncio.run(run_demo(
                {n: p.url for n, p in processes.items()}, dev_tokens(state_dir),
                workers=workers, seed=seed, dsns={n: p.dsn for n, p in processes.items()}))
        except KeyboardInterrupt:
            typer.echo("\ninterrupted")
        finally:
            launcher.stop()
    typer.echo(f"Stopped. {time.monotonic() - started:.1f}s in all. "
               "`songji up` starts a system to explore (OpenAPI pages at /docs).")
    typer.echo("The department console, with `songji up` (make up): http://127.0.0.1:8000")
    raise typer.Exit(code)


@app.command()
def status(
    addresses: Annotated[list[str] | None, typer.Argument(
        help="Each process's base URL (several of one service are its replicas); default: "
             "the five of `songji up` on ports 8001-8005")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer")] = 2.0,
) -> None:
    """One screen of each service's replicas, relay lag, consumer lag and dead letters, read
    from their /metrics. Exits 1 when an address does not answer."""
    from songji.status import default_addresses, fetch_over_http, render, summarise

    scrapes = asyncio.run(fetch_over_http(addresses or default_addresses(), timeout))
    statuses, silent = summarise(scrapes)
    typer.echo(render(statuses, silent))
    if silent or not statuses:
        raise typer.Exit(1)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop everything cleanly, even when started in the background
    (where a shell leaves SIGINT ignored)."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


# The services that seal data, and the setting that holds their keys.
KEY_SETTINGS = {"enrolment": "SONGJI_PERSONAL_DATA_KEY",
                "notifications": "SONGJI_WEBHOOK_SECRET_KEY"}


@keys_app.command("new")
def keys_new() -> None:
    """Print a new key (to put in front of a key setting, then `songji keys rotate`)."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@keys_app.command("new-signing")
def keys_new_signing() -> None:
    """Print a new Ed25519 key pair for a service's event signatures: the private key (its
    SONGJI_SIGNING_KEY, for that service alone) and the public key (its entry in every
    service's and the auditor's SONGJI_PUBLIC_KEYS)."""
    from shared.eventsourcing.signing import new_key_pair

    private, public = new_key_pair()
    typer.echo(f"SONGJI_SIGNING_KEY={private}")
    typer.echo(f"public key: {public}")


@keys_app.command("rotate")
def keys_rotate(
    service: Annotated[str, typer.Argument(help="enrolment or notifications")],
    database_url: Annotated[str | None, typer.Option(
        envvar="SONGJI_DATABASE_URL", show_default=False,
        help="The service's database; else the one `songji up` made")] = None,
) -> None:
    """Seal everything the service keeps sealed again under the newest of its keys (the
    first in its key setting, which lists the older ones after it; from the environment, else
    from what `songji up` keeps). Run it once every running copy of the service has the new
    setting (a copy with the old key alone would go on sealing under it); it can run while
    they do, and again at any time. When a run finds nothing left to seal again, the older
    keys can be removed from the setting."""
    import asyncpg

    from shared.runtime.keys import KeyRing, reseal_all
    from songji.launcher import saved_secrets

    if service not in KEY_SETTINGS:
        raise typer.BadParameter(f"one of {', '.join(KEY_SETTINGS)}", param_hint="SERVICE")
    setting = KEY_SETTINGS[service]
    keys = os.environ.get(setting) or saved_secrets(STATE_DIR).get(setting)
    if not keys:
        typer.echo(f"{setting} is not set: give the service's keys, newest first", err=True)
        raise typer.Exit(2)
    try:
        ring = KeyRing(keys)
    except ValueError as exc:
        typer.echo(f"{setting}: {exc}", err=True)
        raise typer.Exit(2) from None
    dsn = database_url or _store_dsn(service)
    columns = _sealed_columns(service)
    configure_logging("WARNING", "console")

    def progress(done: Resealed) -> None:
        typer.echo(f"{done.column}: {done.seen:,} of {done.rows:,} rows looked at", err=True)

    try:
        results = asyncio.run(reseal_all(dsn, ring, columns, progress))
    except (OSError, asyncpg.PostgresError) as exc:  # named by its kind: no address, no key
        typer.echo(f"the {service} database could not be used: {type(exc).__name__}", err=True)
        raise typer.Exit(3) from None
    for r in results:
        typer.echo(f"{r.column}: {r.resealed:,} sealed again under the newest key, "
                   f"{r.current:,} were already, {len(r.unreadable or []):,} no key opens")
        for key in r.unreadable or []:
            typer.echo(f"  cannot be opened with any of the {ring.size} keys: {key}", err=True)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
    if any(r.resealed for r in results):
        typer.echo("run it again once no copy of the service still runs with the older keys "
                   "alone; when it seals nothing again, the older keys can be removed")


def _store_dsn(service: str) -> str:
    from shared.infra.stores import store_dsns

    try:
        return store_dsns([service], STATE_DIR)[service]
    except LookupError as exc:
        typer.echo(f"{exc} (or give --database-url)", err=True)
        raise typer.Exit(2) from None


def _sealed_columns(service: str) -> list[SealedColumn]:
    if service == "enrolment":
        from services.enrolment.vault import SEALED
    else:
        from services.notifications.webhooks import SEALED
    return SEALED


@schemas_app.command("write")
def schemas_write(
    folder: Annotated[Path, typer.Option(help="Where the schema files go")] = Path("schemas"),
) -> None:
    """(Re)generate one JSON Schema file per event type."""
    from shared.contracts.catalogue_md import write_catalogue
    from shared.contracts.schemas import write_schemas

    written = write_schemas(folder)
    write_catalogue(README)
    typer.echo(f"wrote {len(written)} schemas to {folder}/ and the event catalogue to {README}")


@schemas_app.command("check")
def schemas_check(
    folder: Annotated[Path, typer.Option(help="The committed schema folder")] = Path("schemas"),
) -> None:
    """Fail when a contract changed incompatibly with its committed schema."""
    from shared.contracts.catalogue_md import catalogue_is_current
    from shared.contracts.schemas import check_schemas

    problems = check_schemas(folder)
    if not catalogue_is_current(README):
        problems.append(f"the event catalogue in {README} is out of date (run `make schemas`)")
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("all contracts compatible with the committed schemas")


def main() -> None:
    app()
