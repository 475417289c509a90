"""Run the benchmarks (all, or those named):
``python -m bench [verify_orders] [verify_fanout] [startup] [wallet] [metering] [exports] [pages] [seals]
[receivables] [replica] [nightly] [grown] [growth] [history] [imports] [documents]``.

Each prints its figures beside their baselines, then the Markdown for docs/benchmarks.md.
"""

import sys

from bench import (
    documents,
    exports,
    grown,
    growth,
    history,
    imports,
    metering,
    nightly,
    pages,
    receivables,
    replica,
    seals,
    startup,
    verify_fanout,
    verify_orders,
    wallet,
)

BENCHMARKS = {
    "verify_orders": verify_orders,
    "verify_fanout": verify_fanout,
    "startup": startup,
    "wallet": wallet,
    "metering": metering,
    "exports": exports,
    "pages": pages,
    "seals": seals,
    "receivables": receivables,
    "replica": replica,
    "nightly": nightly,
    "grown": grown,
    "growth": growth,
    "history": history,
    "imports": imports,
    "documents": documents,
}

if __name__ == "__main__":
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        sys.exit(f"Unknown benchmark(s): {', '.join(sorted(unknown))}; they are: {', '.join(BENCHMARKS)}")
    for name in names:
        print(BENCHMARKS[name].main())
