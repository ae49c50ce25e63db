"""Write benchmark figures to BENCHMARKS.md: one dated section per run, machine recorded."""

from __future__ import annotations

import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS_FILE = Path(os.environ.get("LOB_BENCHMARKS_FILE", "BENCHMARKS.md"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def record(
    title: str, rows: list[tuple[str, str, str, str]], notes: str = "", path: Path | None = None
) -> str:
    """Print and append a table (what, this project, reference, budget / ratio) to BENCHMARKS.md."""
    path = path or BENCHMARKS_FILE
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"## {title}", "", f"- date: {stamp}", f"- machine: {machine()}", ""]
    lines += ["| what | DeepLOB Hub | reference | budget / ratio |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n\n"
    print(text)
    if not path.exists():
        path.write_text(
            "# Benchmarks\n\nWritten by `lob bench …` (`make bench`). Newest sections last.\n\n"
        )
    with path.open("a") as fh:
        fh.write(text)
    return text
