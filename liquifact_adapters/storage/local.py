"""The embedded default ``ObjectStore``: files under a folder (STORAGE_DIR, by default the
``objects`` folder beside the SQLite file), reached by clients through short-lived URLs that
the API itself serves (``/v1/objects/{token}``).

A URL's token is ``<claims>.<signature>``: the claims (method, object key, expiry, and the
content type with the exact size of an upload, or the file name of a download) as base64url
JSON, signed with HMAC-SHA256 under STORAGE_URL_SECRET. Nothing else is needed to use it, and
nothing in it can be changed without the secret; it expires on its own. Keys map to paths
under the root only (``documents.object_key`` already allows nothing else; ``_path`` checks
again), and every write goes to a temporary file in the same folder, renamed into place, so
a reader never sees half an object.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from liquifact_core.documents import CHUNK_BYTES
from liquifact_core.errors import Conflict, Forbidden, NotFound, Unavailable

URL_PREFIX = "/v1/objects/"
TOKEN_PATTERN = "^[A-Za-z0-9_-]{1,3000}\\.[A-Za-z0-9_-]{43}$"  # noqa: S105 - a pattern
TOKEN_MAX = 3044
_TOKEN = re.compile(TOKEN_PATTERN)


def storage_unavailable() -> Unavailable:
    """The folder cannot be written or read (disk full, permissions); no path is named."""
    return Unavailable("Document storage is unavailable.", code="STORAGE_UNAVAILABLE")


def upload_exists() -> Conflict:
    return Conflict(
        "A file was already uploaded to this URL; confirm it, or request another upload.",
        code="UPLOAD_EXISTS",
    )


def object_not_found() -> NotFound:
    return NotFound("No object is stored under this key.", code="OBJECT_NOT_FOUND")


class SignedUrlRefused(Forbidden):
    """A signed object URL that is not valid (tampered, for another method, malformed) or no
    longer valid (expired); the answer never says more than which of the two."""

    code = "SIGNED_URL_INVALID"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.frozen
class SignedAccess:
    """What a valid token allows: ``method`` on ``key``; an upload of exactly ``size`` bytes
    of ``content_type``, or a download served as ``content_type`` named ``filename``."""

    method: str
    key: str
    content_type: str
    expires_at: int  # Unix seconds
    size: int | None = None
    filename: str | None = None


class UrlSigner:
    """HMAC-SHA256 tokens over JSON claims (``secret``: at least 32 characters)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the storage URL secret must be at least 32 characters")
        self._key = hashlib.sha256(b"liquifact-object-urls\x00" + secret.encode()).digest()

    def sign(self, claims: dict[str, Any]) -> str:
        payload = _b64(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this signer made; SignedUrlRefused otherwise."""
        # The shape first: anything else (non-ASCII text above all, which neither the MAC
        # nor compare_digest takes) is refused as invalid rather than failing as a 500.
        if not _TOKEN.fullmatch(token):
            raise SignedUrlRefused("This URL is not valid.")
        payload, dot, signature = token.partition(".")
        if not dot or not hmac.compare_digest(signature, self._mac(payload)):
            raise SignedUrlRefused("This URL is not valid.")
        try:
            claims = json.loads(_unb64(payload))
        except ValueError:
            raise SignedUrlRefused("This URL is not valid.") from None
        if not isinstance(claims, dict):
            raise SignedUrlRefused("This URL is not valid.")
        return claims

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())


class LocalObjectStore:
    """``ObjectStore`` on a local folder; URLs served by the API (``access`` checks them)."""

    def __init__(self, root: str | os.PathLike[str], secret: str, *, url_prefix: str = URL_PREFIX):
        """``root``: the folder (created when the first object is stored); ``secret``: the
        HMAC key of its URLs (STORAGE_URL_SECRET, at least 32 characters)."""
        self.root = Path(root)
        self._signer = UrlSigner(secret)
        self._prefix = url_prefix

    # ---- bytes -------------------------------------------------------------------------
    def put(
        self,
        key: str,
        source: BinaryIO,
        size: int,
        content_type: str,
        *,
        replace: bool = True,
    ) -> None:
        """Store ``size`` bytes of ``source`` under ``key``. ``replace=False`` (uploads
        through a signed URL) never overwrites an object already there: 409 UPLOAD_EXISTS,
        so an upload URL still within its lifetime cannot swap a file that was confirmed
        (checked and attested) for other bytes; a mismatched upload is discarded at
        confirmation, so the URL may then be used again."""
        del content_type  # the type is the file's own (checked before it got here)
        path = self._path(key)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as sink:
                remaining = size
                while remaining > 0 and (chunk := source.read(min(CHUNK_BYTES, remaining))):
                    sink.write(chunk)
                    remaining -= len(chunk)
                if remaining:
                    raise ValueError("the source held fewer bytes than its size")
                sink.flush()
                os.fsync(sink.fileno())
            if replace:
                os.replace(temporary, path)
            else:
                os.link(temporary, path)  # atomic, and fails if the key is taken
        except FileExistsError:
            raise upload_exists() from None
        except OSError as error:
            raise storage_unavailable() from error
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by this context manager
        except FileNotFoundError:
            raise object_not_found() from None
        except OSError as error:
            raise storage_unavailable() from error
        with handle:
            yield handle

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None
        except OSError as error:
            raise storage_unavailable() from error

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise storage_unavailable() from error
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        """Every object under ``prefix``: a whole folder for a prefix ending in ``/``, else
        the files of the prefix's folder whose names start with its last part."""
        folder, _, start = prefix.rpartition("/")
        base = self._path(folder + "/x").parent if folder else self.root
        if not base.is_dir():
            return 0
        try:
            if not start:
                count = sum(1 for item in base.rglob("*") if item.is_file())
                shutil.rmtree(base)
                self._prune(base.parent)
                return count
            doomed = [item for item in base.iterdir() if item.name.startswith(start)]
            for item in doomed:
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink(missing_ok=True)
        except OSError as error:
            raise storage_unavailable() from error
        self._prune(base)
        return len(doomed)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(part in ("", ".", "..") for part in parts) or "\\" in key:
            raise ValueError("an object key is a relative path of plain names")
        path = self.root.joinpath(*parts)
        # Belt and braces: object keys are built from checked ids and sanitised names.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError("an object key must stay inside the storage folder")
        return path

    def _prune(self, folder: Path) -> None:
        """Remove emptied folders up to (not including) the root."""
        root = self.root.resolve()
        current = folder
        while current.resolve() != root and current.resolve().is_relative_to(root):
            try:
                current.rmdir()
            except OSError:
                return
            current = current.parent

    # ---- URLs --------------------------------------------------------------------------
    def upload_url(self, key: str, content_type: str, size: int, expires_at: datetime) -> str:
        self._path(key)
        claims = {"m": "PUT", "k": key, "t": content_type, "s": size, "e": _epoch(expires_at)}
        return self._prefix + self._signer.sign(claims)

    def download_url(self, key: str, filename: str, content_type: str, expires_at: datetime) -> str:
        self._path(key)
        claims = {"m": "GET", "k": key, "t": content_type, "n": filename, "e": _epoch(expires_at)}
        return self._prefix + self._signer.sign(claims)

    def access(self, token: str, method: str, now: datetime) -> SignedAccess:
        """What ``token`` allows for ``method`` at ``now``: SignedUrlRefused
        (SIGNED_URL_INVALID) for a token this store did not sign, or signed for another
        method; SIGNED_URL_EXPIRED once its expiry passed."""
        claims = self._signer.verify(token)
        try:
            access = SignedAccess(
                method=str(claims["m"]),
                key=str(claims["k"]),
                content_type=str(claims["t"]),
                expires_at=int(claims["e"]),
                size=int(claims["s"]) if "s" in claims else None,
                filename=str(claims["n"]) if "n" in claims else None,
            )
        except (KeyError, TypeError, ValueError):
            raise SignedUrlRefused("This URL is not valid.") from None
        if access.method != method:
            raise SignedUrlRefused("This URL is not valid for this method.")
        if now.timestamp() >= access.expires_at:
            raise SignedUrlRefused("This URL has expired.", code="SIGNED_URL_EXPIRED")
        return access


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
