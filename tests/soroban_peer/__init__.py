"""A Soroban JSON-RPC peer for tests: the LiquiFact escrow contract modelled in Python.

stellar-sdk's `SorobanServer` talks to it over real HTTP on 127.0.0.1: `getHealth`,
`getNetwork` (standalone passphrase), `getLatestLedger`, `getLedgerEntries`,
`simulateTransaction`, `sendTransaction`, `getTransaction`, `getEvents`, with real XDR.
Contract rules, errors and events follow the escrow spec (docs kept with the project:
`escrow-contract.md`). Modules: `model` (state), `contract` (functions), `auth`, `codec`
(XDR), `rpc` (methods), `control` (test control and faults), `server` (HTTP).

    with PeerServer() as chain:             # or: python -m tests.soroban_peer --port 8000
        chain.control.create_account(G...)
        escrow = chain.control.create_escrow("INV_1", sme, 1_000 * 10**7)
        SorobanServer(chain.url).load_account(G...)
"""

from tests.soroban_peer.control import PeerControl
from tests.soroban_peer.rpc import PASSPHRASE, Peer
from tests.soroban_peer.server import PeerProcess, PeerServer, peer_process

__all__ = ["PASSPHRASE", "Peer", "PeerControl", "PeerProcess", "PeerServer", "peer_process"]
