"""Run every benchmark; print each figure beside its baseline and the Markdown for docs/benchmarks.md."""

from bench import verify_orders

if __name__ == "__main__":
    print(verify_orders.main())
