"""The data-layer benchmark: import, reopen and label a synthetic 3.7M-row canonical CSV.

lob bench data                 # full size (3.7M rows, ~0.9 GB CSV), appends to BENCHMARKS.md
lob bench data --rows 200000   # a quick run

Each figure sits beside a reference measured in the same run on the same machine:
- import time and peak RSS vs `pandas.read_csv(path)` with its defaults; both run in a fresh
  child process so each peak RSS is that reader's alone (ru_maxrss of the child);
- reopen time (open the memory-mapped dataset and read a row) vs re-reading the CSV with pandas,
  which is what a project without a dataset store does on every run;
- triple-barrier labelling (shared.labels, mid included) vs a plain per-row Python loop of the
  docs/ARCHITECTURE.md definition, timed on a slice and scaled to the full length (the slice's
  labels are checked equal to ours);
- importing Tardis.dev (book_snapshot_25, incremental_book_L2) and Databento (MBP-10, MBO) files
  of the same market (devstack.bench.vendor; rows / 40 books, x5 for the one-row-per-book
  formats): input rows (CSV lines or DBN records) per second, each in a child process, beside
  the canonical CSV's rows per second.
Budgets (docs/ARCHITECTURE.md "Budgets"): import <= 20 s at peak RSS <= 2.5 GB, reopen <= 1 s,
labels <= 3 s.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from devstack.bench.report import record

FULL_ROWS = 3_700_000
LOOP_SLICE = 20_000
VENDOR_SHARE = 40  # vendor files hold rows / 40 books (at least VENDOR_MIN_BOOKS)
VENDOR_MIN_BOOKS = 10_000
SEED = 1

_IMPORT_CHILD = """
import json, resource, sys, time
from pathlib import Path
from shared.data.importer import import_sources
t = time.perf_counter()
import_sources([Path(sys.argv[1])], name="bench", home=Path(sys.argv[2]), force=True)
s = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": s, "cpu": u.ru_utime + u.ru_stime, "maxrss_kb": u.ru_maxrss}))
"""

_PANDAS_CHILD = """
import json, resource, sys, time
import pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
s = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": s, "rows": len(df), "cpu": u.ru_utime + u.ru_stime,
                  "maxrss_kb": u.ru_maxrss}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def loop_triple_barrier(
    mid: list[float], *, span: int = 100, k: float = 1.0, h: int = 100, min_return: float = 0.0
) -> list[int]:
    """The docs/ARCHITECTURE.md triple barrier as a plain per-row loop: what a peer would write."""
    n = len(mid)
    out = [-1] * n
    a = 2.0 / (span + 1)
    v = 0.0
    for t in range(n):
        if t > 0:
            r = math.log(mid[t] / mid[t - 1])
            v = (1 - a) * v + a * r * r
        if t < span or t > n - 1 - h:
            continue
        b = max(k * math.sqrt(v) * math.sqrt(h), min_return)
        up, down = mid[t] * math.exp(b), mid[t] * math.exp(-b)
        label = 1
        for j in range(1, h + 1):
            m = mid[t + j]
            if m > up:
                label = 2
                break
            if m < down:
                label = 0
                break
        out[t] = label
    return out


def _vendor_imports(
    root: Path, home: Path, books: int
) -> list[tuple[str, int, int, dict[str, Any]]]:
    """(format, input rows, books imported, child figures) for each vendor format."""
    from devstack.bench.vendor import WRITERS
    from shared.data.store import open_dataset

    out = []
    for label, (name, write, share) in WRITERS.items():
        src = root / name
        print(f"writing {label} from {books * share:,} books ...", flush=True)
        n_in = write(src, books * share)
        print(f"importing {label} ({n_in:,} rows, child process) ...", flush=True)
        child = _child(_IMPORT_CHILD, str(src), str(home))
        made = open_dataset("bench", home).rows
        print(f"  {child['seconds']:.2f} s, {n_in / child['seconds']:,.0f} rows/s", flush=True)
        out.append((label, n_in, made, child))
        src.unlink()
    return out


def _ratio(reference: float, ours: float) -> str:
    if ours <= reference:
        return f"{reference / ours:.1f}× faster"
    return f"{ours / reference:.1f}× slower"


def run(rows: int = FULL_ROWS, *, workdir: Path | None = None) -> list[tuple[str, str, str, str]]:
    """Run the benchmark, print and append the table; returns its rows."""
    from shared.data.store import open_dataset
    from shared.data.synth import write_canonical_csv
    from shared.labels import mid_price, triple_barrier

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lob-bench-data-", dir=workdir) as tmp:
        root = Path(tmp)
        csv = root / "synth.csv"
        home = root / "home"
        print(f"writing a {rows:,}-row synthetic canonical CSV ...", flush=True)
        t = time.perf_counter()
        write_canonical_csv(csv, rows, SEED, symbol="SYNTH")
        csv_mb = csv.stat().st_size / 1e6
        print(f"  {csv_mb:,.0f} MB in {time.perf_counter() - t:.1f} s", flush=True)

        print("importing (child process) ...", flush=True)
        ours = _child(_IMPORT_CHILD, str(csv), str(home))
        print(
            f"  {ours['seconds']:.2f} s, peak RSS {ours['maxrss_kb'] * 1024 / 1e9:.2f} GB",
            flush=True,
        )
        print("pandas.read_csv defaults (child process) ...", flush=True)
        ref = _child(_PANDAS_CHILD, str(csv))
        print(
            f"  {ref['seconds']:.2f} s, peak RSS {ref['maxrss_kb'] * 1024 / 1e9:.2f} GB", flush=True
        )

        t = time.perf_counter()
        ds = open_dataset("bench", home)
        _ = np.array(ds.features[-1])
        reopen = time.perf_counter() - t

        t = time.perf_counter()
        labels = triple_barrier(mid_price(ds.features))
        label_s = time.perf_counter() - t

        n_slice = min(LOOP_SLICE, ds.rows)
        mid_slice = mid_price(ds.features[:n_slice])
        t = time.perf_counter()
        loop = loop_triple_barrier(mid_slice.tolist())
        loop_s = (time.perf_counter() - t) * ds.rows / n_slice
        same = bool(np.array_equal(np.asarray(loop, dtype=np.int8), triple_barrier(mid_slice)))
        feature_mb = os.path.getsize(ds.path / "features.npy") / 1e6
        del ds, labels
        vendor_rows = _vendor_imports(root, home, max(VENDOR_MIN_BOOKS, rows // VENDOR_SHARE))

    gb = 1e9 / 1024  # ru_maxrss is in KiB on Linux; report GB (1e9 bytes)
    rows_out = [
        (
            f"import {rows:,}-row canonical CSV ({csv_mb:,.0f} MB)",
            f"{ours['seconds']:.2f} s (CPU {ours['cpu']:.1f} s)",
            f"pandas.read_csv: {ref['seconds']:.2f} s (CPU {ref['cpu']:.1f} s)",
            f"≤ 20 s; {_ratio(ref['seconds'], ours['seconds'])}",
        ),
        (
            "import peak RSS",
            f"{ours['maxrss_kb'] / gb:.2f} GB",
            f"pandas.read_csv: {ref['maxrss_kb'] / gb:.2f} GB",
            f"≤ 2.5 GB; {ref['maxrss_kb'] / ours['maxrss_kb']:.1f}× less",
        ),
        (
            "reopen dataset (mmap)",
            f"{reopen * 1e3:.1f} ms",
            f"re-read CSV with pandas: {ref['seconds']:.2f} s",
            "≤ 1 s",
        ),
        (
            f"triple-barrier labels, {rows:,} rows, h=100",
            f"{label_s:.2f} s",
            f"plain Python loop: {loop_s:.1f} s (est. from {n_slice:,} rows)",
            f"≤ 3 s; {loop_s / label_s:.0f}× faster",
        ),
    ]
    canonical_rate = rows / ours["seconds"]
    for label, n_in, books, child in vendor_rows:
        rows_out.append(
            (
                f"import {label}, {n_in:,} rows in, {books:,} books out",
                f"{n_in / child['seconds']:,.0f} rows/s ({child['seconds']:.2f} s, "
                f"CPU {child['cpu']:.1f} s)",
                f"canonical CSV: {canonical_rate:,.0f} rows/s",
                f"{books / child['seconds']:,.0f} books/s",
            )
        )
    notes = (
        f"Synthetic market (shared.data.synth, seed {SEED}); dataset on disk: features.npy "
        f"{feature_mb:,.0f} MB (float32 N×40). Peak RSS is ru_maxrss of a child process that "
        f"does only that read; CPU is its user + system time (the child's whole life, imports "
        f"included), the figure that does not depend on what else runs on the machine. "
        f"Load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on "
        f"{os.cpu_count()} cores. Loop labels equal ours on the slice: {'yes' if same else 'NO'}."
    )
    record("Data layer (`lob bench data`)", rows_out, notes)
    return rows_out
