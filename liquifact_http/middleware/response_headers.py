"""Setting headers on a response as it starts, in one pass (every response goes through this).

``set_headers`` has exactly the effect of ``MutableHeaders(scope=message)[name] = value`` for
each pair in turn (Starlette's item assignment: a name already present keeps its first place
and loses its other copies, a new name is appended), without scanning every header once per
name it sets: the names a response does not carry yet, nearly always all of them, are simply
appended.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import Message

HeaderPair = tuple[bytes, bytes]


def header_pair(name: str, value: str) -> HeaderPair:
    """``name`` (lower-cased) and ``value`` encoded as ASGI headers are (latin-1 bytes)."""
    return name.lower().encode("latin-1"), value.encode("latin-1")


def set_headers(message: Message, pairs: Iterable[HeaderPair]) -> None:
    """Set each ``header_pair`` on an ``http.response.start`` ``message``, in order."""
    raw: list[HeaderPair] = list(message["headers"])
    message["headers"] = raw
    present = {name for name, _ in raw}
    for name, value in pairs:
        if name in present:
            MutableHeaders(raw=raw)[name.decode("latin-1")] = value.decode("latin-1")
        else:
            raw.append((name, value))
            present.add(name)
