"""Object storage for invoice documents: a local folder (the embedded default, URLs served by
the API) or an S3 bucket (boto3, imported only when chosen)."""

from liquifact_adapters.storage.local import (
    TOKEN_MAX,
    TOKEN_PATTERN,
    URL_PREFIX,
    LocalObjectStore,
    SignedAccess,
    SignedUrlRefused,
    UrlSigner,
)
from liquifact_adapters.storage.s3 import S3ObjectStore

__all__ = [
    "TOKEN_MAX",
    "TOKEN_PATTERN",
    "URL_PREFIX",
    "LocalObjectStore",
    "S3ObjectStore",
    "SignedAccess",
    "SignedUrlRefused",
    "UrlSigner",
]
