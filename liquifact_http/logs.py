"""structlog set-up: JSON lines in production, readable console output on a terminal.

Every log record of the process takes one path: structlog's own loggers and every library
logger (uvicorn, psycopg, psycopg_pool, ...) reach the stdlib root logger, whose one handler
renders them with structlog's ``ProcessorFormatter``. So a library line is a JSON object like
ours (``event``, ``level``, ``logger``, ``timestamp``, the request's ``correlation_id``), never
plain text in the middle of the JSON stream.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = ("authorization", "password", "secret", "token", "api_key", "apikey", "cookie")
# Library loggers routed through the root handler. uvicorn's follow LOG_LEVEL (its access log
# stays off: the correlation middleware writes one structured line per request); the driver's
# info lines (one per pooled connection) show only at LOG_LEVEL=debug, its warnings always.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")
_DRIVER_LOGGERS = ("psycopg", "psycopg.pool", "psycopg_pool")
# HTTP clients log every request's full URL at INFO (and headers at DEBUG): a tenant's webhook
# URL (its query can carry a token) and X-Signature would reach the logs. Warnings only, at
# every level; the delivery's outcome is logged and audited with the host alone.
_URL_LOGGERS = ("httpx", "httpcore")


def _drop_secrets(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: a value under a secret-looking key never reaches the output."""
    for key in list(event):
        if any(marker in key.lower() for marker in _SECRET_KEYS):
            event[key] = "[REDACTED]"
    return event


def _exception_type_only(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A library record's exception is named, never traced: tracebacks and driver messages can
    carry hosts, users or data (docs/security.md)."""
    exc_info = event.pop("exc_info", None)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        event["error_type"] = exc_info[0].__name__
    elif isinstance(exc_info, BaseException):
        event["error_type"] = type(exc_info).__name__
    return event


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:  # StreamHandler.__init__ assigns it
        pass


LOGGED_EXTRAS = (
    "worker_id",
    "job_id",
    "job_type",
    "attempt",
    "outcome",
    "abandoned",
    # The retention purge's counts per tenant (liquifact_core.services.retention).
    "tenant_id",
    "dry_run",
    "purged",
    "held",
    "error_type",
)


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Route every logger of the process through one structlog renderer on stderr.

    Idempotent: the handler it installed before is replaced, handlers others added (test
    log capture) are kept.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            _drop_secrets,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared,
            # Library-style calls (the job worker logs with ``extra=``) keep these fields; any
            # other extra stays out, so no caller can smuggle a value into the JSON lines.
            structlog.stdlib.ExtraAdder(allow=LOGGED_EXTRAS),
            _exception_type_only,
            _drop_secrets,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _CurrentStderr()
    handler.setFormatter(formatter)
    handler.set_name("liquifact")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "liquifact"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name in (*_SERVER_LOGGERS, *_DRIVER_LOGGERS):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        quiet = name in _DRIVER_LOGGERS and numeric_level > logging.DEBUG
        library.setLevel(max(numeric_level, logging.WARNING) if quiet else numeric_level)
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric_level, logging.WARNING))


def uvicorn_log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers add no handler or format of their own and
    propagate to the root handler above; the access log is off (one line per request comes
    from the correlation middleware)."""
    numeric = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "level": numeric, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": numeric, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }


def get_logger(name: str = "liquifact") -> Any:
    return structlog.get_logger(name)
