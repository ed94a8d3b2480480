"""A KYC provider over HTTP (httpx), configured by KYC_PROVIDER_URL and KYC_PROVIDER_API_KEY.

The provider API this adapter speaks (docs/reminders-and-kyc.md, "Provider contract"):

* ``POST {url}/v1/verifications`` with ``Authorization: Bearer <api key>`` and the JSON body
  ``{"reference": "kyc_...", "subjectType": "sme" | "investor" | null}``; a 2xx answer is
  ``{"id": "<provider reference>", "status": "<provider status>", "verificationUrl"?: "..."}``.
* ``GET {url}/health``: any 2xx answer means the provider is up (``/ready``).
* Events arrive later on our webhook (``POST /v1/kyc/webhook``), signed with
  KYC_PROVIDER_SECRET.

No redirects are followed and no proxy is taken from the environment. Outcomes: a 2xx with a
well-formed body is the answer; 429, 5xx, timeouts and network errors are Unavailable
(retryable: the submission job tries again later); any other answer is Unprocessable (the
job is dead-lettered). Error texts name the status or the error class, never the key.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from liquifact_core.errors import Unavailable, Unprocessable
from liquifact_core.kyc import (
    PROVIDER_REFERENCE_PATTERN,
    PROVIDER_STATUS_PATTERN,
    KycRole,
    KycStatus,
    ProviderAnswer,
)

USER_AGENT = "LiquiFact-KYC/1"
DEFAULT_TIMEOUT_MS = 5000
_REFERENCE = re.compile(PROVIDER_REFERENCE_PATTERN[1:-1])
_STATUS = re.compile(PROVIDER_STATUS_PATTERN[1:-1])
_URL = re.compile(r"(?i)https?://[^\s]{1,2040}")


class HttpKycProvider:
    """``KycProvider`` over HTTP (see the module docstring). ``name`` is ``http``; a subject
    without a record is not verified (``assumed_status`` None)."""

    name = "http"
    assumed_status: KycStatus | None = None

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self._client = httpx.Client(
            timeout=timeout_ms / 1000,
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT},
        )

    def submit(self, reference: str, subject: str, role: KycRole | None) -> ProviderAnswer:
        del subject  # our principal ids stay with us: the provider knows the reference only
        body = {"reference": reference, "subjectType": None if role is None else role.value}
        response = self._request("POST", "/v1/verifications", json=body)
        if not 200 <= response.status_code < 300:
            raise Unprocessable(
                f"The KYC provider refused the submission (HTTP {response.status_code}).",
                code="KYC_PROVIDER_REFUSED",
            )
        return _answer(response)

    def check(self) -> None:
        response = self._request("GET", "/health")
        if not 200 <= response.status_code < 300:
            raise _down(f"HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, self._url + path, **kwargs)
        except httpx.TimeoutException:
            raise _down("timeout") from None
        except httpx.HTTPError as error:
            # The class name only: httpx's messages can carry the URL.
            raise _down(type(error).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _down(f"HTTP {response.status_code}")
        return response


def _answer(response: httpx.Response) -> ProviderAnswer:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _unreadable()
    reference, status, url = body.get("id"), body.get("status"), body.get("verificationUrl")
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise _unreadable()
    if not isinstance(status, str) or not _STATUS.fullmatch(status):
        raise _unreadable()
    if url is not None and (not isinstance(url, str) or not _URL.fullmatch(url)):
        raise _unreadable()
    return ProviderAnswer(reference, status, url)


def _down(why: str) -> Unavailable:
    return Unavailable(f"The KYC provider is unavailable ({why}).", code="KYC_PROVIDER_UNAVAILABLE")


def _unreadable() -> Unprocessable:
    return Unprocessable(
        "The KYC provider's answer is not {id, status, verificationUrl?}.",
        code="KYC_PROVIDER_ANSWER_INVALID",
    )
