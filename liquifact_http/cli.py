"""The ``liquifact`` command: serve, seed-demo, db migrate|rollback|status, idempotency purge."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from liquifact_http.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from liquifact_core.services import Services
    from liquifact_http.bootstrap import MigrationRunner
    from liquifact_http.metrics import Metrics

EXIT_CONFIG = 2
# The configuration is valid but the database cannot be used as it is (down, or its schema
# is behind the code).
EXIT_DATABASE = 3


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        print(error.report(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _services(settings: Settings, metrics: Metrics | None = None) -> Services:
    """The wired use cases, or exit before binding when the database cannot serve them."""
    from liquifact_core.errors import Unavailable
    from liquifact_http.bootstrap import SchemaOutdated, build_services

    try:
        return build_services(settings, metrics=metrics)
    except SchemaOutdated as error:
        print(f"Not started: {error}", file=sys.stderr)
    except Unavailable:
        # The driver's text can name hosts and users; the operator's logs hold the cause.
        print(
            "Not started: the database named by DATABASE_URL is unreachable. "
            "Check that it is running and accepts connections, then start again.",
            file=sys.stderr,
        )
    raise SystemExit(EXIT_DATABASE)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from liquifact_http.bootstrap import create_app
    from liquifact_http.logs import configure_logging, get_logger
    from liquifact_http.metrics import Metrics
    from liquifact_http.seed import seed_demo, store_is_empty

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    metrics = Metrics()
    services = _services(settings, metrics)
    if args.seed_demo_if_empty and store_is_empty(services):
        get_logger("liquifact.cli").info("seeded_demo_data", invoices=seed_demo(services))
    app = create_app(settings, services=services, metrics=metrics)
    try:
        uvicorn.run(
            app,
            host=args.host or settings.host,
            port=args.port or settings.port,
            access_log=False,  # the correlation middleware writes one structured line per request
            log_config=None,
            server_header=False,
        )
    finally:
        services.close()
    return 0


def _seed(_args: argparse.Namespace) -> int:
    from liquifact_http.seed import seed_demo

    services = _services(_settings())
    try:
        print(f"Created {seed_demo(services)} demo invoices.")
    finally:
        services.close()
    return 0


def _db(args: argparse.Namespace) -> int:
    from liquifact_core.errors import Unavailable
    from liquifact_http.bootstrap import migration_runner

    runner = migration_runner(_settings())
    try:
        _run_db_action(runner, args.action)
    except Unavailable:
        print("The database named by DATABASE_URL is unreachable.", file=sys.stderr)
        return EXIT_DATABASE
    return 0


def _run_db_action(runner: MigrationRunner, action: str) -> None:
    if action == "migrate":
        applied = runner.migrate()
        print("Applied: " + (", ".join(applied) if applied else "nothing; schema is current"))
    elif action == "rollback":
        undone = runner.rollback()
        print(f"Rolled back: {undone}" if undone else "Nothing to roll back.")
    else:
        for version, name, is_applied in runner.status():
            print(f"{version:04d} {name:40s} {'applied' if is_applied else 'pending'}")


def _idempotency(args: argparse.Namespace) -> int:
    from liquifact_http.bootstrap import build_services

    services = build_services(_settings())
    try:
        purged = services.idempotency.purge_expired(batch_size=args.batch_size)
        print(f"Purged {purged} expired idempotency records.")
    finally:
        services.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liquifact", description="LiquiFact backend")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="override HOST")
    serve.add_argument("--port", type=int, help="override PORT")
    serve.add_argument(
        "--seed-demo-if-empty", action="store_true", help="load demo data into an empty store"
    )
    serve.set_defaults(run=_serve)
    seed = commands.add_parser("seed-demo", help="load demo tenants and invoices")
    seed.set_defaults(run=_seed)
    db = commands.add_parser("db", help="schema migrations")
    db.add_argument("action", choices=["migrate", "rollback", "status"])
    db.set_defaults(run=_db)
    keys = commands.add_parser("idempotency", help="idempotency-key maintenance")
    keys.add_argument("action", choices=["purge"], help="delete expired idempotency records")
    keys.add_argument("--batch-size", type=int, default=1000, help="rows deleted per statement")
    keys.set_defaults(run=_idempotency)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
