"""``songji``: run the system, write the event schemas."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from shared.audit import cli as audit_cli
from shared.runtime.logging import configure_logging

app = typer.Typer(help="Songji (送技): vocational training for migrant workers where they work.",
                  no_args_is_help=True)
schemas_app = typer.Typer(help="The JSON Schemas of the event contracts.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(audit_cli.app, name="audit")

STATE_DIR = Path(os.environ.get("SONGJI_STATE_DIR", ".songji"))


@app.command()
def up(
    base_port: Annotated[int, typer.Option(help="Port of the first service; the rest follow")]
    = 8001,
) -> None:
    """Start the embedded PostgreSQL and broker (unless POSTGRES_URL / KAFKA_BOOTSTRAP_SERVERS
    point elsewhere) and all five services, each in its own process. Ctrl-C stops everything."""
    from shared.infra.launcher import Launcher
    from shared.infra.provision import kafka_broker, postgres_server

    configure_logging("INFO", "console")
    _stop_on_signals()
    with postgres_server() as pg_url, kafka_broker() as bootstrap:
        launcher = Launcher(postgres_url=pg_url, kafka_bootstrap=bootstrap,
                            state_dir=STATE_DIR, base_port=base_port)
        try:
            processes = asyncio.run(launcher.start())
            typer.echo("\nSongji is up. Kafka bootstrap servers: " + bootstrap)
            for svc in processes.values():
                typer.echo(f"  {svc.name:<14} {svc.url}  (API docs {svc.url}/docs, "
                           f"log {svc.log_file})")
            if (STATE_DIR / "tokens.env").exists():
                typer.echo(f"Bearer tokens of the local organisations: {STATE_DIR / 'tokens.env'}")
            typer.echo("Press Ctrl-C to stop.")
            while all(p.process.poll() is None for p in processes.values()):
                time.sleep(1)
            dead = [p.name for p in processes.values() if p.process.poll() is not None]
            typer.echo(f"stopped: {', '.join(dead)} exited; see their logs", err=True)
            raise typer.Exit(1)
        except KeyboardInterrupt:
            typer.echo("\nstopping...")
        finally:
            launcher.stop()
    typer.echo("stopped cleanly")


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop everything cleanly, even when started in the background
    (where a shell leaves SIGINT ignored)."""

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


@schemas_app.command("write")
def schemas_write(
    folder: Annotated[Path, typer.Option(help="Where the schema files go")] = Path("schemas"),
) -> None:
    """(Re)generate one JSON Schema file per event type."""
    from shared.contracts.schemas import write_schemas

    written = write_schemas(folder)
    typer.echo(f"wrote {len(written)} schemas to {folder}/")


@schemas_app.command("check")
def schemas_check(
    folder: Annotated[Path, typer.Option(help="The committed schema folder")] = Path("schemas"),
) -> None:
    """Fail when a contract changed incompatibly with its committed schema."""
    from shared.contracts.schemas import check_schemas

    problems = check_schemas(folder)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("all contracts compatible with the committed schemas")


def main() -> None:
    app()
