"""moto's S3 server as a real HTTP peer on 127.0.0.1, for the S3 object store's tests.

``moto_s3()`` starts ``python -m moto.server`` in a process of its own on a free port, waits
until it answers, and stops it at the end. Credentials are made-up values moto accepts; they
are passed to the code under test the usual way (the AWS_* environment variables), never as
arguments, as in production.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import attrs

from tests.integration.server import free_port

# Made-up credentials: moto accepts any. Tests check the secret never leaks anywhere.
ACCESS_KEY_ID = "AKIALIQUIFACTTEST01"
SECRET_ACCESS_KEY = "liquifact-test-secret-key-never-shown-0123456789"
REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_DEFAULT_REGION": REGION,
    # No shared config or instance metadata lookups from a test.
    "AWS_CONFIG_FILE": "/nonexistent/liquifact-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/liquifact-test-aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@attrs.frozen
class MotoS3:
    endpoint: str
    process: subprocess.Popen[bytes]


@contextmanager
def moto_s3() -> Iterator[MotoS3]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.1)
        yield MotoS3(endpoint, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
