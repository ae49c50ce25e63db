"""Render RELIABILITY.md's tables from what the reliability tests and the soak run measured.

python tests/reliability/report.py

Reads test-artifacts/reliability/figures.json (written by tests/reliability, one entry per fault
or input class) and test-artifacts/reliability/soak.json (written by `lob bench soak`), and
rewrites the parts of RELIABILITY.md between the `<!-- figures:... -->` and `<!-- soak:... -->`
markers. Everything else in the file is left as written.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "reliability"
DOC = REPO / "RELIABILITY.md"
ORDER = {"fault": 0, "input": 1, "security": 2}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def figures_table(doc: dict[str, dict]) -> str:
    lines = [
        "| fault / input class | what was done | times | what was lost | recovery time | result |",
        "|---|---|---|---|---|---|",
    ]
    for _, row in sorted(doc.items(), key=lambda kv: (ORDER.get(kv[1]["kind"], 9), kv[0])):
        result = "pass" if row.get("passed", True) else "**FAIL** (open defect below)"
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    row["what"],
                    row["done"],
                    row["times"],
                    row["lost"],
                    row["recovery"],
                    f"{result}; {row['measured_at']}",
                )
            )
            + " |"
        )
    return "\n".join(lines)


def _fmt(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def soak_table(soak: dict) -> str:
    samples = soak["samples"]
    services = sorted({s for row in samples for s in row["rss_mb"]})
    head = ["minute", *[f"{s} RSS MB" for s in services]]
    head += ["GET /api/jobs p50/p99 ms", "inference p50/p99 ms", "WS e2e p50/p99 ms"]
    head += ["Redis PING ms", "PG SELECT 1 ms", "worker samples/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in samples:
        cells = [_fmt(row["minute"], 2)]
        cells += [_fmt(row["rss_mb"].get(s), 0) for s in services]
        for key in ("gateway_get_ms", "inference_ms", "ws_e2e_ms"):
            cells.append(f"{_fmt(row[key]['p50'])} / {_fmt(row[key]['p99'])}")
        cells += [
            _fmt(row["redis_ping_ms"], 2),
            _fmt(row["postgres_select_ms"], 2),
            _fmt(row.get("worker_samples_per_s"), 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    trend = ", ".join(f"{s} {v:+.2f}" for s, v in soak["rss_slope_mb_per_min"].items())
    trend_late = ", ".join(
        f"{s} {v:+.2f}" for s, v in soak["rss_slope_second_half_mb_per_min"].items()
    )
    first, last = samples[1 if len(samples) > 2 else 0], samples[-1]
    change = ", ".join(
        f"{s} {_fmt(first['rss_mb'].get(s), 0)} -> {_fmt(last['rss_mb'].get(s), 0)}"
        for s in services
    )
    jobs = soak["jobs"]
    lines += [
        "",
        f"- run: {soak['minutes']:g} min, {soak['symbols']} symbols x {soak['rate']:g} "
        f"snapshots/s, {soak['clients']} WebSocket clients, training jobs back to back",
        f"- RSS trend, MB/min (least-squares slope after the first minute): {trend}",
        f"- RSS trend over the second half, MB/min (capped buffers full by then): {trend_late}",
        f"- RSS from minute {first['minute']:g} to minute {last['minute']:g}, MB: {change}",
        f"- predictions: {soak['delivered']} delivered of {soak['expected']} expected "
        f"(per client, by seq); lost {soak['lost']}, doubled {soak['doubled']}; clients dropped "
        f"{soak['dropped_clients']}",
        f"- training jobs: {sum(s == 'succeeded' for s in jobs.values())} succeeded, "
        f"{sum(s == 'failed' for s in jobs.values())} failed, {len(jobs)} in all",
    ]
    return "\n".join(lines)


def replace_between(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"RELIABILITY.md has no <!-- {name}:start --> / end markers")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def main() -> None:
    text = DOC.read_text()
    figures = ARTIFACTS / "figures.json"
    if figures.is_file():
        text = replace_between(text, "figures", figures_table(json.loads(figures.read_text())))
    soak = ARTIFACTS / "soak.json"
    if soak.is_file():
        text = replace_between(text, "soak", soak_table(json.loads(soak.read_text())))
    DOC.write_text(text)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
