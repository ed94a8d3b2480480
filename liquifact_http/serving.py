"""How ``liquifact serve`` runs uvicorn: one server in this process, or, with ``--workers N``
(``WEB_CONCURRENCY``), a supervisor and N uvicorn worker processes on one port.

With several workers the supervisor (the process ``liquifact serve`` started) does everything
that must happen once: it validates the settings, migrates (SQLite) or checks the schema
(PostgreSQL), seeds, runs the embedded job worker when there is one, binds the port, and
starts the workers. Each worker is a fresh interpreter (``spawn``) that builds its own app
(``WorkerApp``, the factory uvicorn calls in the child): its own store pool, cache, metrics
registry and rate-limit counters. SIGTERM or SIGINT to the supervisor stops every worker (each
drains for ``SHUTDOWN_TIMEOUT_SECONDS``), then the supervisor stops its job worker and closes
its store. A worker whose supervisor vanishes (SIGKILL) stops itself. What several processes
need (Redis for rate limits and the cache; what SQLite allows) is checked by
``multiprocess_problems`` and ``local_cache_warning`` and documented in
docs/configuration.md and docs/performance.md.

Why not uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``): it hands every worker
the same listening socket, and the first worker to wake accepts every connection waiting
(asyncio accepts up to the backlog per wake-up), so a client that opens its keep-alive
connections at once (a load balancer, a proxy's upstream pool, wrk) gets them all served by
one worker: measured, 10 connections split 10/0 or 9/1 between two workers, and two workers
served no more than one. Here each worker gets a socket of its own, all bound to the port with
``SO_REUSEPORT``, so the kernel spreads new connections across the workers (by a hash of the
addresses). Where ``SO_REUSEPORT`` does not exist the workers share one socket.
"""

from __future__ import annotations

import contextlib
import enum
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import threading
from typing import Any

import attrs
import uvicorn
from prometheus_client import Gauge

from liquifact_adapters.composition import sqlite_path_of
from liquifact_http.logs import configure_logging, get_logger, uvicorn_log_config
from liquifact_http.metrics import Metrics
from liquifact_http.settings import WORKERS_MAX, Settings

# A worker's exit status for "this worker could not start; do not restart it" (uvicorn's own
# uvicorn.config.STARTUP_FAILURE). `liquifact serve` exits 3 for an unusable database too.
STARTUP_FAILURE = 3
# How often a worker checks that its supervisor is still there.
PARENT_CHECK_SECONDS = 0.5


def parse_workers(raw: str) -> int:
    """``--workers``: an integer from 1 to ``WORKERS_MAX`` (ValueError otherwise)."""
    value = raw.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= WORKERS_MAX:
        raise ValueError(f"must be an integer from 1 to {WORKERS_MAX}")
    return int(value)


def uvicorn_config(
    app: Any,
    *,
    host: str,
    port: int,
    log_level: str,
    shutdown_timeout_seconds: int,
    workers: int = 1,
    factory: bool = False,
) -> uvicorn.Config:
    """The one uvicorn configuration of ``liquifact serve`` (the bench serves its bare
    Starlette app with it too, so the two are compared like for like). ``workers`` > 1 needs
    ``factory=True`` and a picklable ``app`` factory such as ``WorkerApp``."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=factory,
        access_log=False,  # the correlation middleware writes one structured line per request
        log_config=uvicorn_log_config(log_level),
        server_header=False,
        # h11 whatever else is installed (uvicorn's "auto" takes httptools when present): it
        # is what answers malformed framing before the app sees it, and httptools answers
        # differently (a request with both Transfer-Encoding and Content-Length gets uvicorn's
        # text/plain 400 instead of the AMBIGUOUS_BODY_LENGTH problem, HTTP/1.1 without Host is
        # accepted): tests/integration/test_http_framing.py, docs/performance.md "Hot path".
        http="h11",
        # X-Forwarded-* are believed only when TRUST_PROXY says a proxy is in front: the app
        # applies it (middleware/forwarded.py, keeping the socket peer for /metrics), so the
        # server's own proxy-header rewriting stays off.
        proxy_headers=False,
        # SIGTERM: stop accepting, let requests in flight finish for at most this long.
        timeout_graceful_shutdown=shutdown_timeout_seconds,
    )


def bind_socket(config: uvicorn.Config) -> socket.socket:
    """``config.bind_socket()`` (raises SystemExit when the address cannot be bound), with
    the protocol of a TCP listener set to ``IPPROTO_TCP``.

    uvicorn creates the listener with ``proto`` 0; accepted connections inherit it, and
    asyncio turns ``TCP_NODELAY`` on only for sockets that say ``IPPROTO_TCP``. Without it
    Nagle's algorithm holds the body of every keep-alive response until the client's delayed
    ACK, about 40 ms on Linux (uvicorn issue 3149, open). The socket is the same one (same
    file descriptor, address and flags); only the Python object's protocol is corrected."""
    sock = config.bind_socket()
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        family, kind = sock.family, sock.type
        sock = socket.socket(family, kind, socket.IPPROTO_TCP, fileno=sock.detach())
    return sock


def bind_sockets(config: uvicorn.Config, count: int) -> list[socket.socket]:
    """``count`` listening TCP sockets on ``config.host:config.port``, one per worker, bound
    with ``SO_REUSEPORT`` so the kernel spreads connections across them (``port`` 0: the
    port the first one gets). Raises OSError when the port is taken, by any process: a plain
    socket must be able to bind it first, so a second server started on the same port by
    mistake is refused rather than silently sharing the traffic. One socket (uvicorn's, see
    ``bind_socket``) when ``count`` is 1 or the platform has no ``SO_REUSEPORT``."""
    if count == 1 or not hasattr(socket, "SO_REUSEPORT"):
        return [bind_socket(config)]
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((config.host, config.port))  # OSError: taken
        port = probe.getsockname()[1]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((config.host, port))
            # Listening from now on: connections made before a worker is up wait for it.
            sock.listen(config.backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def multiprocess_problems(settings: Settings) -> list[tuple[str, str]]:
    """Why ``settings.web_concurrency`` worker processes would serve wrongly with these
    settings, as ``(setting, reason)`` pairs (empty: they may start).

    * Rate limits without ``REDIS_URL`` would be counted by each worker on its own: every
      client would get up to N times the configured limits (sign-in attempts included), so
      this is refused rather than warned about; set ``REDIS_URL`` or
      ``RATE_LIMIT_ENABLED=false``.
    * A SQLite database in memory (``sqlite:///:memory:``) would be one database per worker.

    A process-local response cache is allowed (reads may be up to ``CACHE_TTL_SECONDS``
    stale in the other workers): ``routes.health.local_cache_warning`` says so in the log and
    in ``/ready``.
    """
    workers = settings.web_concurrency
    if workers <= 1:
        return []
    problems = []
    if settings.rate_limit_enabled and not settings.redis_url:
        problems.append(
            (
                "WEB_CONCURRENCY",
                f"{workers} worker processes (--workers or WEB_CONCURRENCY) would each count "
                "rate limits on their own, so every client would get up to "
                f"{workers} times RATE_LIMIT_MAX_REQUESTS and RATE_LIMIT_SENSITIVE_MAX: set "
                "REDIS_URL to share the counters, or RATE_LIMIT_ENABLED=false, or run one "
                "worker",
            )
        )
    if sqlite_path_of(settings.database_url) in (":memory:", "file::memory:"):
        problems.append(
            (
                "DATABASE_URL",
                "an in-memory SQLite database would be a different database in each worker "
                "process: use a file, or run one worker",
            )
        )
    return problems


def register_process_info(metrics: Metrics, workers: int) -> None:
    """``liquifact_server_process_info{pid, workers} 1`` on ``metrics``: which process answered
    this scrape (with several workers each scrape reaches one of them), and how many serve
    the port."""
    Gauge(
        "liquifact_server_process_info",
        "The server process that answered this scrape (pid) and how many worker processes "
        "serve its port (--workers, WEB_CONCURRENCY).",
        ["pid", "workers"],
        registry=metrics.registry,
    ).labels(pid=str(os.getpid()), workers=str(workers)).set(1)


@attrs.frozen
class WorkerApp:
    """The app factory of one worker process: uvicorn's supervisor pickles it into each child
    (``spawn``) and calls it there once. The settings are the supervisor's, already validated,
    development secrets filled in and ``web_concurrency`` set, so every worker signs cursors
    and tokens alike.

    The worker opens the store without migrating (the supervisor did), builds the app with its
    own metrics registry, and watches its supervisor: if that process disappears without
    stopping it (SIGKILL), the worker stops itself as on SIGTERM. A store that cannot be used
    ends the worker with ``STARTUP_FAILURE``, which stops the supervisor instead of
    restarting the worker in a loop. ``supervisor`` is the supervisor's pid, taken in the
    supervisor: a worker that asked for its parent only once started could already have been
    handed to init (the supervisor killed during the worker's start-up) and would then watch
    the wrong process forever; None: this process's parent when the app is built."""

    settings: Settings
    supervisor: int | None = None

    def __call__(self) -> Any:
        from liquifact_adapters.composition import open_store
        from liquifact_http.bootstrap import create_app
        from liquifact_http.settings import services_config

        settings = self.settings
        configure_logging(settings.log_level, settings.log_format)
        log = get_logger("liquifact.cli")
        metrics = Metrics()
        register_process_info(metrics, settings.web_concurrency)
        store = None
        try:
            store = open_store(services_config(settings), migrate=False)
            app = create_app(settings, metrics=metrics, store=store)
        except Exception as error:  # any failure: stop the supervisor, do not restart in a loop
            if store is not None:
                store.close()
            log.error("worker_not_started", pid=os.getpid(), detail=_not_started(error))
            raise SystemExit(STARTUP_FAILURE) from None
        watch_parent(os.getppid() if self.supervisor is None else self.supervisor)
        log.info("worker_process_started", pid=os.getpid())
        return app


def _not_started(error: Exception) -> str:
    from liquifact_core.errors import Unavailable
    from liquifact_http.bootstrap import SchemaOutdated

    if isinstance(error, SchemaOutdated):
        return f"Not started: {error}"
    if isinstance(error, Unavailable):
        # The driver's text can name hosts and users; the operator's logs hold the cause.
        return "Not started: the database named by DATABASE_URL is unreachable."
    return f"Not started: {type(error).__name__} while building the app."


def watch_parent(parent: int) -> threading.Thread:
    """A daemon thread that sends this process SIGTERM once ``parent`` is no longer its parent
    (the supervisor died without stopping its workers): no orphan keeps the port."""

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(PARENT_CHECK_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="liquifact-parent-watch", daemon=True)
    thread.start()
    return thread


class Outcome(enum.Enum):
    """How a supervised run ended."""

    STOPPED = "stopped"  # by SIGTERM or SIGINT
    NOT_LISTENING = "not_listening"  # the port could not be bound
    WORKER_FAILED = "worker_failed"  # a worker could not start (it logged why)


@attrs.define
class Supervised:
    """What ``supervise`` reports: the outcome and the signal that stopped it, if any."""

    outcome: Outcome
    signal: str | None = None


def serve_worker(config: uvicorn.Config, sock: socket.socket) -> None:
    """A worker process's whole life: uvicorn's server on ``sock`` (``config.app`` is the
    factory that builds the app here). uvicorn handles SIGTERM / SIGINT (drain, lifespan
    shutdown) and then re-raises the signal, which ends the process."""
    config.configure_logging()
    with contextlib.suppress(KeyboardInterrupt):  # SIGINT re-raised after a graceful stop
        uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Runs ``len(sockets)`` worker processes (``spawn``), worker *i* serving ``sockets[i]``,
    until SIGTERM or SIGINT; then stops them (SIGTERM, then at most
    ``config.timeout_graceful_shutdown`` + ``STOP_MARGIN_SECONDS`` before SIGKILL).

    A worker that exits is replaced on the same socket (the connections queued on it wait),
    except one that exits with ``STARTUP_FAILURE``: its app cannot be built, and the others'
    cannot either, so everything stops. SIGHUP replaces the workers one by one, each new one
    started before the old one is stopped."""

    STOP_MARGIN_SECONDS = 10
    POLL_SECONDS = 0.5

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.processes: list[Any] = []
        self.signals: list[int] = []
        self.failed = False
        self._log = get_logger("liquifact.cli")

    def _spawn(self, index: int) -> Any:
        process = multiprocessing.get_context("spawn").Process(
            target=serve_worker,
            args=(self.config, self.sockets[index]),
            name=f"liquifact-worker-{index}",
        )
        process.start()
        return process

    def run(self) -> str | None:
        """Supervise until a stop signal (returned, as ``SIGTERM`` / ``SIGINT``) or a worker
        that could not start (``failed``). Restores the signal handlers it replaced."""
        watched = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {
            number: signal.signal(number, lambda n, _f: self.signals.append(n))
            for number in watched
        }
        stopped_by: str | None = None
        try:
            for index in range(len(self.sockets)):  # one by one: a failed spawn stops those up
                self.processes.append(self._spawn(index))
            while stopped_by is None and not self.failed:
                for number in self._take_signals():
                    if number == signal.SIGHUP:
                        self._replace_all()
                    else:
                        stopped_by = signal.Signals(number).name
                if stopped_by is None:
                    self._keep_alive()
                    multiprocessing.connection.wait(
                        [p.sentinel for p in self.processes], self.POLL_SECONDS
                    )
        finally:
            self._stop_all()
            for number, handler in previous.items():
                signal.signal(number, handler)
        return stopped_by

    def _take_signals(self) -> list[int]:
        taken, self.signals[:] = list(self.signals), []
        return taken

    def _keep_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                self.failed = True
                return
            self._log.warning("worker_process_died", pid=process.pid, exit_code=process.exitcode)
            self.processes[index] = self._spawn(index)

    def _replace_all(self) -> None:
        self._log.info("workers_replacing", workers=len(self.processes))
        for index, old in enumerate(self.processes):
            self.processes[index] = self._spawn(index)
            self._terminate(old)
            self._reap(old)

    def _terminate(self, process: Any) -> None:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)

    def _reap(self, process: Any) -> None:
        process.join((self.config.timeout_graceful_shutdown or 0) + self.STOP_MARGIN_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()

    def _stop_all(self) -> None:
        for process in self.processes:  # all at once: they drain in parallel
            self._terminate(process)
        for process in self.processes:
            self._reap(process)


def supervise(config: uvicorn.Config, sockets: list[socket.socket]) -> Supervised:
    """Run a ``Supervisor`` over ``sockets`` (one worker each) and close them at the end."""
    supervisor = Supervisor(config, sockets)
    try:
        stopped_by = supervisor.run()
    finally:
        for sock in sockets:
            sock.close()
    if supervisor.failed:
        return Supervised(Outcome.WORKER_FAILED)
    return Supervised(Outcome.STOPPED, stopped_by)


def run_workers(settings: Settings, *, host: str, port: int, store: str) -> Supervised:
    """Bind ``host:port`` once per worker (``bind_sockets``), log one ``listening`` line
    (``url``, ``store``, ``docs``, ``workers``, ``pid``) and ``supervise``
    ``settings.web_concurrency`` workers, each building a ``WorkerApp``, until SIGTERM or
    SIGINT, which stops every worker before this returns."""
    log = get_logger("liquifact.cli")
    config = uvicorn_config(
        WorkerApp(settings, supervisor=os.getpid()),
        host=host,
        port=port,
        log_level=settings.log_level,
        shutdown_timeout_seconds=settings.shutdown_timeout_seconds,
        workers=settings.web_concurrency,
        factory=True,
    )
    try:
        sockets = bind_sockets(config, settings.web_concurrency)
    except (OSError, SystemExit):  # taken, or not an address of this host
        return Supervised(Outcome.NOT_LISTENING)
    bound_host, bound_port = sockets[0].getsockname()[:2]
    base = base_url(bound_host, bound_port)
    log.info(
        "listening",
        url=base,
        store=store,
        docs=f"{base}/docs",
        workers=settings.web_concurrency,
        pid=os.getpid(),
    )
    return supervise(config, sockets)


def base_url(host: str, port: int) -> str:
    """The URL to show for a bound ``host:port``."""
    # Bound to every interface: show the address a local browser can open.
    shown = "localhost" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
