"""KYC providers: the HTTP provider adapter (httpx). The in-memory mock used when none is
configured is ``liquifact_core.services.kyc.MockKycProvider``."""

from liquifact_adapters.kyc.http import HttpKycProvider

__all__ = ["HttpKycProvider"]
