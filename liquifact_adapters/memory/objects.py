"""An in-memory ``ObjectStore`` for tests and library use without storage (nothing kept).

Its URLs (``memory:///<key>?...``) are not servable: they name what a real store's URL would
allow, so service tests can read them back (``InMemoryObjectStore.grants``)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO
from urllib.parse import quote

from liquifact_core.documents import CHUNK_BYTES
from liquifact_core.errors import NotFound


def object_not_found() -> NotFound:
    return NotFound("No object is stored under this key.", code="OBJECT_NOT_FOUND")


class InMemoryObjectStore:
    """Objects in a dict, copied in and out chunk by chunk like the real stores read them."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        # Every URL handed out: (method, key, content type, size or filename, expiry).
        self.grants: list[tuple[str, str, str, str, datetime]] = []

    def put(self, key: str, source: BinaryIO, size: int, content_type: str) -> None:
        buffer = bytearray()
        while len(buffer) < size and (chunk := source.read(min(CHUNK_BYTES, size - len(buffer)))):
            buffer += chunk
        if len(buffer) != size:
            raise ValueError("the source held fewer bytes than its size")
        with self._lock:
            self._objects[key] = (bytes(buffer), content_type)

    def write(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Put ``data`` as a client uploading to a URL of this store would (tests)."""
        with self._lock:
            self._objects[key] = (data, content_type)

    @contextmanager
    def open(self, key: str) -> Iterator[io.BytesIO]:
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise object_not_found()
        yield io.BytesIO(found[0])

    def size(self, key: str) -> int | None:
        with self._lock:
            found = self._objects.get(key)
        return None if found is None else len(found[0])

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            doomed = [key for key in self._objects if key.startswith(prefix)]
            for key in doomed:
                del self._objects[key]
        return len(doomed)

    def upload_url(self, key: str, content_type: str, size: int, expires_at: datetime) -> str:
        self.grants.append(("PUT", key, content_type, str(size), expires_at))
        return f"memory:///{quote(key)}?method=PUT&expires={int(expires_at.timestamp())}"

    def download_url(self, key: str, filename: str, content_type: str, expires_at: datetime) -> str:
        self.grants.append(("GET", key, content_type, filename, expires_at))
        return f"memory:///{quote(key)}?method=GET&expires={int(expires_at.timestamp())}"
