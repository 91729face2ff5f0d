"""``python -m tests.fakeapi``: run the fake server in the foreground; line 1 is the base URL."""

from __future__ import annotations

import argparse
import sys
import threading

from tests.fakeapi import DIALECTS, FAULTS, FILL_MODES, FakeServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeapi", description=__doc__)
    parser.add_argument("--dialect", choices=DIALECTS, default="openai")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--key", default="sk-test-key", help="the API key it accepts")
    parser.add_argument("--fault", choices=FAULTS, default=None)
    parser.add_argument("--fault-count", type=int, default=None,
                        help="apply the fault to the first N API requests only")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    parser.add_argument("--partial-delay", type=float, default=0.0)
    parser.add_argument("--fill", choices=FILL_MODES, default="mask")
    args = parser.parse_args(argv)
    srv = FakeServer(dialect=args.dialect, key=args.key, host=args.host, port=args.port)
    srv.fault, srv.fault_count = args.fault, args.fault_count
    srv.latency, srv.partial_delay, srv.fill = args.latency, args.partial_delay, args.fill
    with srv:
        host = args.host if args.host != "0.0.0.0" else "127.0.0.1"
        print("http://%s:%d/v1" % (host, srv.port), flush=True)
        print("dialect=%s fault=%s (Ctrl-C stops)" % (args.dialect, args.fault), file=sys.stderr)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
