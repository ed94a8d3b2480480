"""The ``liquifact`` command: serve, seed-demo, db migrate|rollback|status, token,
idempotency purge."""

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
            # X-Forwarded-* are believed only when TRUST_PROXY says a proxy is in front: the app
            # applies it (middleware/forwarded.py, keeping the socket peer for /metrics), so the
            # server's own proxy-header rewriting stays off.
            proxy_headers=False,
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


def _token(args: argparse.Namespace) -> int:
    from liquifact_core.errors import ValidationError
    from liquifact_core.lifecycle import Role
    from liquifact_http.auth import mint_token

    settings = _settings()
    if settings.environment == "production":
        print(
            "liquifact token is a development tool; refused when NODE_ENV=production.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if settings.jwt_secret is None:
        print(
            "JWT_SECRET is not set (nor JWT_SECRET_FILE): there is no key to sign with. "
            "`make token` uses ./var/dev-jwt-secret, which `make run` creates.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        token = mint_token(
            settings,
            role=Role(args.role),
            tenant_id=args.tenant,
            subject=args.sub or f"demo-{args.role}",
            wallet=args.wallet or None,
            ttl_seconds=args.ttl,
        )
    except (ValueError, ValidationError) as error:
        print(f"Cannot mint a token: {error}", file=sys.stderr)
        return EXIT_CONFIG
    print(token)
    return 0


def _ttl(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= TOKEN_TTL_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer from 1 to {TOKEN_TTL_MAX}")
    return int(raw)


TOKEN_TTL_MAX = 7 * 24 * 3600


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
    token = commands.add_parser(
        "token", help="print a signed JWT for local development (uses JWT_SECRET)"
    )
    token.add_argument("--role", required=True, choices=["sme", "investor", "admin"])
    token.add_argument("--tenant", required=True, help="the tenantId claim")
    token.add_argument("--sub", help="the sub claim (default: demo-<role>, as in the demo data)")
    token.add_argument("--wallet", help="a walletAddress claim (a checksummed G... account)")
    token.add_argument("--ttl", type=_ttl, default=3600, help="seconds until exp (default 3600)")
    token.set_defaults(run=_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
