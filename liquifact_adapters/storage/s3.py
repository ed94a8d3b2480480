"""The production ``ObjectStore``: an S3 bucket through boto3 (S3_BUCKET, AWS_REGION, and
S3_ENDPOINT for S3-compatible services), with credentials from boto3's usual sources (the
environment's AWS_* variables, shared config files, an instance or task role): this code
never reads, stores or prints them.

Clients upload and download with S3 presigned URLs (SigV4 query signatures): an upload URL
signs the key, the content type and the exact length; a download URL the key and the
attachment name. A presigned URL necessarily carries the access key id and, with temporary
credentials, the session token as query parameters (that is how S3 checks it); the secret
key never leaves the process. Errors name no bucket, endpoint or key: the driver's error is
only the ``__cause__``, for the operator's logs.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from liquifact_core.errors import NotFound, Unavailable

MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's own limit
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# botocore logs request headers (the signature, the key id) at DEBUG: never, whatever the
# process's LOG_LEVEL.
_QUIET = ("boto3", "botocore", "s3transfer", "urllib3")


def storage_unavailable() -> Unavailable:
    return Unavailable("Document storage is unavailable.", code="STORAGE_UNAVAILABLE")


def object_not_found() -> NotFound:
    return NotFound("No object is stored under this key.", code="OBJECT_NOT_FOUND")


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class S3ObjectStore:
    """``ObjectStore`` on one S3 bucket."""

    def __init__(
        self,
        bucket: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        client: Any = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        """``endpoint``: an S3-compatible service's URL (path-style addressing); ``client``:
        a ready boto3 S3 client instead of one built here. Nothing is contacted here."""
        for name in _QUIET:
            logger = logging.getLogger(name)
            logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        self.bucket = bucket
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.session.Session().client(
                "s3",
                region_name=region,
                endpoint_url=endpoint,
                config=Config(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if endpoint else "auto"},
                    retries={"max_attempts": 3, "mode": "standard"},
                    connect_timeout=connect_timeout,
                    read_timeout=read_timeout,
                ),
            )
        self._client = client

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        """Driver failures as the core's errors (no bucket, host or key in the message)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            if _error_code(error) in _MISSING:
                raise object_not_found() from error
            raise storage_unavailable() from error
        except BotoCoreError as error:
            raise storage_unavailable() from error

    def put(self, key: str, source: BinaryIO, size: int, content_type: str) -> None:
        # A file object is streamed by the HTTP client in blocks; nothing reads it whole.
        with self._calls():
            self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=source,
                ContentLength=size,
                ContentType=content_type,
            )

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[Any]:
        with self._calls():
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        body = answer["Body"]
        try:
            with self._calls():
                yield body
        finally:
            with contextlib.suppress(Exception):
                body.close()

    def size(self, key: str) -> int | None:
        try:
            with self._calls():
                answer = self._client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return None
        return int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        with self._calls():
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def delete_prefix(self, prefix: str) -> int:
        removed = 0
        with self._calls():
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    self._client.delete_objects(
                        Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                    )
                    removed += len(keys)
        return removed

    def upload_url(self, key: str, content_type: str, size: int, expires_at: datetime) -> str:
        # If-None-Match: * is signed into the URL, so the upload must send it and S3 refuses
        # the PUT once an object is at the key: a URL still valid after its file was
        # confirmed cannot replace the checked bytes (UPLOAD_HEADERS tells the client).
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "ContentLength": size,
            "IfNoneMatch": "*",
        }
        return self._presign("put_object", params, expires_at)

    def download_url(self, key: str, filename: str, content_type: str, expires_at: datetime) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentType": content_type,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
        }
        return self._presign("get_object", params, expires_at)

    def _presign(self, operation: str, params: dict[str, Any], expires_at: datetime) -> str:
        remaining = (expires_at - datetime.now(UTC)).total_seconds()
        seconds = min(max(math.ceil(remaining), 1), MAX_PRESIGN_SECONDS)
        with self._calls():
            url: str = self._client.generate_presigned_url(
                operation, Params=params, ExpiresIn=seconds
            )
        return url

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests)."""
        from botocore.exceptions import ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            region = self._client.meta.region_name
            options: dict[str, Any] = {}
            if region and region != "us-east-1":  # S3 wants the region named, but this one
                options["CreateBucketConfiguration"] = {"LocationConstraint": region}
            with self._calls():
                self._client.create_bucket(Bucket=self.bucket, **options)
