"""`python -m tests.soroban_peer [--host 127.0.0.1] [--port 8000]`: the peer in the foreground.

Prints `soroban peer listening on URL` then the network passphrase, and serves until SIGINT or
SIGTERM. Port 0 picks a free port (the first line tells which).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from tests.soroban_peer.rpc import PASSPHRASE
from tests.soroban_peer.server import PeerServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soroban_peer", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--start-time", type=int, default=None, help="first ledger's Unix time")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    server = PeerServer(args.host, args.port, start_time=args.start_time, verbose=args.verbose)
    print(f"soroban peer listening on {server.url}", flush=True)
    print(f"network passphrase: {PASSPHRASE}", flush=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
