"""The ``liquifact`` command: serve, worker, seed-demo, db migrate|rollback|status, token,
idempotency purge, reconcile, index-once."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from liquifact_adapters.composition import postgres_url_of, sqlite_path_of
from liquifact_http.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from liquifact_core.services import Services
    from liquifact_core.services.indexer import IndexerRun
    from liquifact_http.bootstrap import MigrationRunner
    from liquifact_http.metrics import Metrics

EXIT_CONFIG = 2
# The configuration is valid but the database cannot be used as it is (down, or its schema
# is behind the code).
EXIT_DATABASE = 3
# `serve` cannot listen on its address (taken, or not on this host); uvicorn itself would exit
# 3, which reads as EXIT_DATABASE.
EXIT_LISTEN = 4


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        print(error.report(), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _services(settings: Settings, metrics: Metrics | None = None, log: Any = None) -> Services:
    """The wired use cases, or exit before binding when the database cannot serve them.

    With ``log`` (``serve``, whose stderr is a JSON log stream) the reason is a log event;
    otherwise a plain sentence on stderr."""
    from liquifact_adapters.sql_migrations import MigrationRefused
    from liquifact_core.errors import Unavailable
    from liquifact_http.bootstrap import SchemaOutdated, build_services

    try:
        return build_services(settings, metrics=metrics)
    except SchemaOutdated as error:
        reason = f"Not started: {error}"
    except MigrationRefused as refused:  # SQLite migrates on start
        reason = f"Not started: {refused.label} not applied. {refused}"
    except Unavailable:
        # The driver's text can name hosts and users; the operator's logs hold the cause.
        reason = (
            "Not started: the database named by DATABASE_URL is unreachable. "
            "Check that it is running and accepts connections, then start again."
        )
    if log is None:
        print(reason, file=sys.stderr)
    else:
        log.error("not_started", detail=reason)
    raise SystemExit(EXIT_DATABASE)


DEV_CURSOR_SECRET_FILE = Path("var/dev-cursor-secret")
DEV_SEP10_SECRET_FILE = Path("var/dev-sep10-signing-secret")
DEV_WEBHOOK_KEY_FILE = Path("var/dev-webhook-secrets-key")
DEV_STORAGE_SECRET_FILE = Path("var/dev-storage-url-secret")


def development_cursor_secret(path: Path = DEV_CURSOR_SECRET_FILE) -> str:
    """The development cursor secret kept in ``path``, created once (random, mode 0600).

    As ``make run`` does for the JWT secret: cursors stay valid across restarts and across
    processes started in the same directory, and no published constant ever signs them.
    Creation is atomic (a temporary file linked into place), so two servers starting at once
    agree on one secret.
    """
    return _development_secret(path, lambda: secrets.token_urlsafe(48))


def development_sep10_secret(path: Path = DEV_SEP10_SECRET_FILE) -> str:
    """The development SEP-10 signing seed (``S...``) kept in ``path``, created once like the
    cursor secret: the stellar.toml SIGNING_KEY stays the same across restarts."""
    from stellar_sdk import Keypair

    return _development_secret(path, lambda: Keypair.random().secret)


def development_webhook_key(path: Path = DEV_WEBHOOK_KEY_FILE) -> str:
    """The development Fernet key sealing webhook secrets, kept in ``path`` and created once
    like the cursor secret, so the server and ``liquifact worker`` started in the same
    directory open each other's secrets across restarts."""
    from liquifact_adapters.webhooks import generate_key

    return _development_secret(path, generate_key)


def with_development_secrets(settings: Settings) -> Settings:
    """``settings`` with the development secrets filled in where none is configured
    (production refuses to start without them, so this changes nothing there)."""
    if settings.cursor_secret is None:
        settings = attrs.evolve(settings, cursor_secret=development_cursor_secret())
    if settings.sep10_signing_secret is None:
        settings = attrs.evolve(settings, sep10_signing_secret=development_sep10_secret())
    if settings.webhook_secrets_key is None:
        settings = attrs.evolve(settings, webhook_secrets_key=development_webhook_key())
    if settings.storage_url_secret is None and not settings.s3_bucket:
        settings = attrs.evolve(settings, storage_url_secret=development_storage_secret())
    return settings


def development_storage_secret(path: Path = DEV_STORAGE_SECRET_FILE) -> str:
    """The development HMAC key of local document URLs, kept in ``path`` and created once
    like the cursor secret, so URLs handed out stay valid across restarts."""
    return _development_secret(path, lambda: secrets.token_urlsafe(48))


def _development_secret(path: Path, make: Callable[[], str]) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(make() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process won the race; use its secret
        finally:
            temporary.unlink()
    return path.read_text(encoding="utf-8").strip()


def store_label(settings: Settings) -> str:
    """Where the data lives, for humans: the SQLite file, or PostgreSQL host:port/database.
    Never a user name or password."""
    postgres_url = postgres_url_of(settings.database_url)
    if postgres_url is None:
        return f"sqlite {sqlite_path_of(settings.database_url)}"
    parts = urlsplit(postgres_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    return f"postgresql {host}{f':{port}' if port else ''}/{parts.path.lstrip('/')}"


def _serve(args: argparse.Namespace) -> int:
    from liquifact_http.bootstrap import create_app
    from liquifact_http.logs import configure_logging, get_logger
    from liquifact_http.metrics import Metrics
    from liquifact_http.routes.health import local_cache_warning
    from liquifact_http.seed import seed_demo, store_is_empty
    from liquifact_http.serving import multiprocess_problems, register_process_info, uvicorn_config

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    log = get_logger("liquifact.cli")
    settings = with_development_secrets(settings)  # production requires real ones
    if args.port:  # the development sign-in domain (localhost:<port>) names the real port
        settings = attrs.evolve(settings, port=args.port)
    if args.workers is not None:  # --workers wins over WEB_CONCURRENCY
        settings = attrs.evolve(settings, web_concurrency=args.workers)
    refused = multiprocess_problems(settings)
    if refused:
        print(ConfigError(refused).report(), file=sys.stderr)
        return EXIT_CONFIG
    cache_warning = local_cache_warning(settings)
    if cache_warning is not None:
        log.warning("process_local_cache", detail=cache_warning)
    metrics = Metrics()
    # Migrations (SQLite), the schema check (PostgreSQL) and the seed run here, once, also
    # when several worker processes serve (serving.py).
    services = _services(settings, metrics, log)
    if args.seed_demo_if_empty and store_is_empty(services):
        log.info("seeded_demo_data", invoices=seed_demo(services))
    worker = None
    if settings.runs_embedded_worker:
        from liquifact_http.background import build_worker

        # The embedded store's process does the background work too (EMBEDDED_WORKER): with
        # several workers, the supervisor's process, once.
        worker = build_worker(settings, services, metrics)
        log.info("embedded_worker", worker_id=worker.plan.worker_id)
    if settings.web_concurrency > 1:
        return _serve_workers(args, settings, services, metrics, worker)
    register_process_info(metrics, 1)
    app = create_app(settings, services=services, metrics=metrics, worker=worker)
    config = uvicorn_config(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level,
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
    )
    server = _announcing_server(config, store_label(settings))
    # uvicorn re-raises the signal that stopped it once it has shut down (so that the default
    # action, death by SIGTERM = exit 143, follows). Our handler is what it restores and
    # re-raises into: the stop was graceful, so the process goes on to close the store and
    # exits 0 (issue 9: SIGTERM from Docker/Kubernetes is a normal stop).
    stopped_by: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda number, _frame: stopped_by.append(number))
        for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        server.run()
    except SystemExit:
        # uvicorn exits 3 when it cannot listen (port taken, address not available), the
        # status this command already gives a schema older than the code: say which it was.
        if server.started:
            raise
        _could_not_listen(log, config.host, config.port)
        return EXIT_LISTEN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        # Pools closed; SQLite's last connection checkpoints its WAL and removes -wal/-shm.
        services.close()
    log.info("stopped", signal=signal.Signals(stopped_by[0]).name if stopped_by else None)
    return 0


def _serve_workers(
    args: argparse.Namespace,
    settings: Settings,
    services: Services,
    metrics: Metrics,
    worker: Any,
) -> int:
    """``serve`` with ``settings.web_concurrency`` worker processes: this process supervises
    them and runs the embedded job worker, if any (its metrics are served on
    WORKER_METRICS_PORT when set, as ``liquifact worker`` does)."""
    from liquifact_http.logs import get_logger
    from liquifact_http.serving import Outcome, run_workers

    log = get_logger("liquifact.cli")
    host, port = args.host or settings.host, args.port or settings.port
    finished = True
    try:
        if worker is None:
            services.close()  # the workers open their own; nothing here uses these
        else:
            if settings.worker_metrics_port is not None:
                from prometheus_client import start_http_server

                start_http_server(
                    settings.worker_metrics_port,
                    addr=settings.worker_metrics_host,
                    registry=metrics.registry,
                )
            worker.start()
        supervised = run_workers(settings, host=host, port=port, store=store_label(settings))
    finally:
        if worker is not None:
            # Finish what runs, for at most the grace period; the rest is abandoned and runs
            # again when its lease expires.
            finished = worker.stop(settings.shutdown_timeout_seconds)
            services.close()
    if supervised.outcome is Outcome.NOT_LISTENING:
        _could_not_listen(log, host, port)
        return EXIT_LISTEN
    if supervised.outcome is Outcome.WORKER_FAILED:
        log.error("not_started", detail="A worker process could not start (see its log line).")
        return EXIT_DATABASE
    log.info(
        "stopped",
        signal=supervised.signal,
        workers=settings.web_concurrency,
        **({} if finished else {"abandoned_jobs": worker.inflight}),
    )
    return 0


def _could_not_listen(log: Any, host: str, port: int) -> None:
    log.error(
        "could_not_listen",
        detail=f"Nothing listens on {host}:{port}: the address is taken or "
        "not available here. Stop the other server or set PORT / HOST.",
    )


def _announcing_server(config: Any, store: str) -> Any:
    """uvicorn's server, plus one line once it listens: the URL, the store and the docs."""
    import uvicorn

    from liquifact_http.logs import get_logger
    from liquifact_http.serving import base_url

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            base = base_url(host, port)
            get_logger("liquifact.cli").info(
                "listening", url=base, store=store, docs=f"{base}/docs"
            )

    return AnnouncingServer(config)


def _worker(args: argparse.Namespace) -> int:
    import threading

    from liquifact_http.background import build_worker, register_queue_gauges
    from liquifact_http.logs import configure_logging, get_logger
    from liquifact_http.metrics import Metrics

    settings = with_development_secrets(_settings())
    configure_logging(settings.log_level, settings.log_format)
    log = get_logger("liquifact.cli")
    metrics = Metrics()
    services = _services(settings, metrics, log)
    try:
        register_queue_gauges(metrics, services)
        worker = build_worker(settings, services, metrics)
        if args.once:
            ran = worker.drain()
            log.info("worker_drained", jobs=ran)
            return 0
        if settings.worker_metrics_port is not None:
            from prometheus_client import start_http_server

            start_http_server(
                settings.worker_metrics_port,
                addr=settings.worker_metrics_host,
                registry=metrics.registry,
            )
        stop = threading.Event()
        stopped_by: list[int] = []

        def on_signal(number: int, _frame: object) -> None:
            stopped_by.append(number)
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            worker.start()
            log.info("worker_running", worker_id=worker.plan.worker_id, store=store_label(settings))
            while not stop.wait(1.0):
                pass
            # Finish what runs, for at most the grace period; the rest is abandoned and runs
            # again when its lease expires.
            finished = worker.stop(settings.shutdown_timeout_seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info(
            "stopped",
            signal=signal.Signals(stopped_by[0]).name if stopped_by else None,
            abandoned_jobs=0 if finished else worker.inflight,
        )
        return 0
    finally:
        services.close()


def _seed(_args: argparse.Namespace) -> int:
    from liquifact_http.seed import seed_demo

    services = _services(_settings())
    try:
        print(f"Created {seed_demo(services)} demo invoices.")
    finally:
        services.close()
    return 0


def _db(args: argparse.Namespace) -> int:
    from liquifact_adapters.sql_migrations import MigrationRefused
    from liquifact_core.errors import Unavailable
    from liquifact_http.bootstrap import migration_runner

    runner = migration_runner(_settings())
    try:
        _run_db_action(runner, args.action)
    except Unavailable:
        print("The database named by DATABASE_URL is unreachable.", file=sys.stderr)
        return EXIT_DATABASE
    except MigrationRefused as refused:
        # The migrations before it stay applied; this one changed nothing.
        print(f"{refused.label} not applied. {refused}", file=sys.stderr)
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


def _reconcile(args: argparse.Namespace) -> int:
    """Run reconciliation now, for one tenant or every tenant with invoices in scope, and
    print one summary line per run. Exit 0 whatever the drift (the spec's runner prints its
    summary; alerts are the log line and the metrics); 2 when no escrow ledger is configured
    or the tenant id is malformed, 3 when the database is unusable."""
    from liquifact_core.errors import Unavailable, ValidationError
    from liquifact_core.ids import parse_tenant_id
    from liquifact_http.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)  # log lines go to stderr
    if args.tenant is not None:
        try:
            parse_tenant_id(args.tenant)
        except ValidationError:
            print("--tenant must be 1-128 characters of [A-Za-z0-9_-].", file=sys.stderr)
            return EXIT_CONFIG
    services = _services(settings)
    try:
        reconciliation = services.reconciliation
        if not reconciliation.available:
            print(
                "Reconciliation needs the Soroban RPC (STELLAR_NETWORK and SOROBAN_RPC_URL); "
                "no escrow ledger is configured.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        try:
            if args.tenant is not None:
                runs = [reconciliation.reconcile(args.tenant, trigger="cli")]
            else:
                runs = reconciliation.reconcile_all(trigger="cli")
        except Unavailable:
            print("The database named by DATABASE_URL is unreachable.", file=sys.stderr)
            return EXIT_DATABASE
        for run in runs:
            summary = run.summary
            print(
                f"{run.tenant_id} {run.id}: total {summary.total}, matches {summary.matches}, "
                f"mismatches {summary.mismatches}, errors {summary.errors}, total drift "
                f"{summary.total_drift} stroops, threshold {summary.threshold}"
                + (", ALERT" if run.alerted else "")
            )
        print(f"Reconciled {len(runs)} tenant{'' if len(runs) == 1 else 's'}.")
    finally:
        services.close()
    return 0


def index_summary(run: IndexerRun) -> str:
    """One line per tenant and a total, for ``liquifact index-once``: counts only (no
    contract address or chain text)."""
    lines = [
        f"{t.tenant_id}: {t.events} events, {t.readings} contracts read, "
        f"{t.projections} projections, {t.transitions} invoices moved, "
        f"{t.confirmations} commitments confirmed"
        + (f", failed: {t.error} (cursor kept)" if t.error else "")
        for t in run.tenants
    ]
    ledger = "unknown" if run.latest_ledger is None else str(run.latest_ledger)
    lines.append(
        f"Indexed {len(run.tenants)} tenant(s), {len(run.failed)} failed; "
        f"{run.total('events')} events, {run.total('transitions')} invoices moved; "
        f"latest ledger {ledger}."
    )
    return "\n".join(lines)


def run_index_once(services: Services) -> int:
    """One indexer pass with its summary on stdout; exit 0, or 1 when a tenant failed (its
    cursor stayed; the next pass retries), or 2 without a chain to read."""
    if services.indexer is None:
        print(
            "No escrow chain is configured, so there is nothing to index "
            "(the indexer reads the chain through the Soroban adapter).",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    run = services.indexer.run_once()
    print(index_summary(run))
    return 1 if run.failed else 0


def _index_once(_args: argparse.Namespace) -> int:
    from liquifact_http.bootstrap import build_services

    services = build_services(_settings())
    try:
        return run_index_once(services)
    finally:
        services.close()


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
    if args.ttl > settings.jwt_max_ttl_seconds:
        print(
            f"--ttl {args.ttl} exceeds JWT_MAX_TTL_SECONDS ({settings.jwt_max_ttl_seconds}): "
            "the server would refuse the token.",
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


def _workers(raw: str) -> int:
    from liquifact_http.serving import parse_workers

    try:
        return parse_workers(raw)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liquifact", description="LiquiFact backend")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="override HOST")
    serve.add_argument("--port", type=int, help="override PORT")
    serve.add_argument(
        "--workers",
        type=_workers,
        help="worker processes on the port (overrides WEB_CONCURRENCY; default 1)",
    )
    serve.add_argument(
        "--seed-demo-if-empty", action="store_true", help="load demo data into an empty store"
    )
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run background jobs and the schedule")
    worker.add_argument(
        "--once", action="store_true", help="run the due jobs (and schedule slots), then exit"
    )
    worker.set_defaults(run=_worker)
    seed = commands.add_parser("seed-demo", help="load demo tenants and invoices")
    seed.set_defaults(run=_seed)
    db = commands.add_parser("db", help="schema migrations")
    db.add_argument("action", choices=["migrate", "rollback", "status"])
    db.set_defaults(run=_db)
    keys = commands.add_parser("idempotency", help="idempotency-key maintenance")
    keys.add_argument("action", choices=["purge"], help="delete expired idempotency records")
    keys.add_argument("--batch-size", type=int, default=1000, help="rows deleted per statement")
    keys.set_defaults(run=_idempotency)
    reconcile = commands.add_parser(
        "reconcile", help="compare funded totals with the escrow contracts now"
    )
    reconcile.add_argument(
        "--tenant", help="one tenant (default: every tenant with invoices to compare)"
    )
    reconcile.set_defaults(run=_reconcile)
    index = commands.add_parser(
        "index-once", help="run one pass of the escrow indexer and print a summary"
    )
    index.set_defaults(run=_index_once)
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
