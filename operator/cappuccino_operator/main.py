"""`cappuccino-operator run`: starts kopf with Cappuccino's handlers and settings.

python -m cappuccino_operator run [--namespace NS ... | --all-namespaces] [--standalone]
    [--priority N] [--peering NAME] [--liveness URL] [--metrics-port P] [--verbose]
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import sys
from urllib.parse import urlsplit

__all__ = ["main", "parse_args", "replica_priority"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cappuccino-operator", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="Run the operator until SIGTERM/SIGINT.")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", metavar="NS",
                       help="Watch this namespace (repeatable; globs allowed).")  # fmt: skip
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="Watch every namespace.")
    run.add_argument("--standalone", action="store_true", help="No peering (a single operator).")
    run.add_argument(
        "--priority", type=int, default=None, help="Peering priority (HA: highest wins)."
    )
    run.add_argument("--peering", default=None, help="Peering object name (default: cappuccino).")
    run.add_argument(
        "--liveness", default=None, help="Liveness endpoint, e.g. http://0.0.0.0:8080/healthz."
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        default=8080,
        help="Serve Prometheus /metrics on this port (0: off). When --liveness names the same "
        "port, /healthz is served here too.",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="Debug-level logs.")
    return parser.parse_args(argv)


def replica_priority(hostname: str) -> int:
    """A stable peering priority per replica, from its pod name.

    Replicas of one Deployment share their arguments, and kopf pauses every operator when two
    peers have the same priority; hashing the pod name gives each replica its own.
    """
    return 1 + int.from_bytes(hashlib.sha256(hostname.encode()).digest()[:4], "big") % 1_000_000


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import kopf

    import cappuccino_operator.handlers  # noqa: F401  (registers the handlers)
    from cappuccino_operator.handlers.startup import PEERING_NAME

    kopf.configure(verbose=args.verbose)
    # kopf makes peering mandatory whenever a peering name is passed, which would pause a
    # --standalone operator forever ("peering CRD is missing"): pass it only for HA runs.
    peering = None if args.standalone else (args.peering or PEERING_NAME)
    priority = args.priority
    if peering and priority is None:
        priority = replica_priority(socket.gethostname())
    liveness = args.liveness
    if args.metrics_port:
        from cappuccino_operator.metrics import serve

        shared = liveness is not None and urlsplit(liveness).port == args.metrics_port
        serve(args.metrics_port, liveness=shared)
        if shared:
            liveness = None  # answered by the metrics server, from kopf's heartbeat
    kopf.run(
        clusterwide=bool(args.all_namespaces),
        namespaces=args.namespaces or (),
        standalone=args.standalone,
        priority=priority,
        peering_name=peering,
        liveness_endpoint=liveness,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
