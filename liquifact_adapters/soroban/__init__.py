"""The Soroban adapter: ``EscrowLedger`` on stellar-sdk's ``SorobanServer`` (reads), with a
circuit breaker (pybreaker) and retries of transient failures (tenacity), and
``FundingChain`` (funding transactions) over the same RPC and breaker."""

from liquifact_adapters.soroban.funding import SorobanFundingChain
from liquifact_adapters.soroban.ledger import (
    CHAIN_UNAVAILABLE,
    NULL_ACCOUNT,
    SorobanEscrowLedger,
    chain_unavailable,
    not_recognised,
)
from liquifact_adapters.soroban.resilience import ResilienceSettings, StateListener

__all__ = [
    "CHAIN_UNAVAILABLE",
    "NULL_ACCOUNT",
    "ResilienceSettings",
    "SorobanEscrowLedger",
    "SorobanFundingChain",
    "StateListener",
    "chain_unavailable",
    "not_recognised",
]
