"""The spec's ``stubbed`` signing mode of the escrow chain port.

Nothing is built, signed or sent: every funding comes back as ``stubbed`` with no transaction
hash, and callers report exactly that. It exists so the funding flow (validation, capacity,
idempotency, commitments) runs end to end before a Soroban adapter is wired in.
"""

from __future__ import annotations

from liquifact_core.amounts import Stroops
from liquifact_core.commitments import SubmissionStatus
from liquifact_core.ports import FundingSubmission

SIGNING_MODE = "stubbed"


class StubbedEscrowChain:
    def submit_funding(
        self, escrow_address: str, investor: str, amount: Stroops, invoice_id: str
    ) -> FundingSubmission:
        """Record nothing on chain; answer ``stubbed`` with no transaction hash."""
        del escrow_address, investor, amount, invoice_id
        return FundingSubmission(SubmissionStatus.STUBBED, tx_hash=None)


__all__ = ["SIGNING_MODE", "StubbedEscrowChain"]
