"""Tooling beside the product, not part of it: nothing under shared/ or services/ imports it.

- `devstack.stack`: the dev stack (Redis, PostgreSQL or a scratch database, the gateway,
  inference, workers, Flower, feeds) as real processes, each awaited until healthy. `lob up`,
  the benchmarks and the tests (tests/support/) start services only through it.
- `devstack.seed`: what a fresh stack serves (synthetic datasets, a servable model).
- `devstack.up`: `lob up` (the command itself is shared/cli/up.py).
- `devstack.supervisor`: `lob up`'s child processes, with prefixed logs and restarts.
- `devstack.bench`: `lob bench` (shared/cli/bench.py); figures to BENCHMARKS.md.
"""
