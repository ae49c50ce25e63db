"""`lob data`: import, synthesise, list and inspect order-book datasets ($LOB_HOME/datasets/).

lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc
lob data import ../shared/data/lobster-aapl/*.csv --name aapl
lob data import ../shared/data/tardis/binance-futures_book_snapshot_25_BTCUSDT.csv --name tbtc
lob data import ../shared/data/databento-es-mbo/orderbooks_mbo_*.dbn.zst --name es
lob data synth --rows 200000 --name demo --seed 7
lob data list
lob data show btc
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

app = typer.Typer(
    help="Order-book datasets: import files, make a synthetic market, list and inspect them.",
    no_args_is_help=True,
)

IMPORT_EPILOG = """\
Examples:

  lob data import ../shared/data/binance-spot-btcusdt/*.gz --name btc

  lob data import ../shared/data/lobster-aapl/*.csv --name aapl

  lob data import day1.csv.gz day2.csv.gz --name es --symbol ES

  lob data import book.parquet --name x --force

  lob data import ../shared/data/databento-es-mbo/orderbooks_mbo_*.dbn.zst --name es

  lob data import deribit_incremental_book_L2_2024-05-01_OPTIONS.csv.gz --name d --split-symbols

  lob data import binance-futures_book_snapshot_5_2024-05-01_BTCUSDT.csv.gz --name b --levels 5

Formats (auto-detected): canonical CSV/CSV.GZ/Parquet (header ts,symbol,ask_px_1,ask_sz_1,bid_px_1,bid_sz_1,...,bid_sz_10), LOBSTER *_orderbook_L.csv + *_message_L.csv pairs, Binance depth captures (`<ns> <json>` lines, gzip or plain; several files are one capture, give them in time order), Tardis.dev CSV (book_snapshot_N and incremental_book_L2, plain or gzip) and Databento DBN (.dbn, .dbn.zst; schemas mbo and mbp-10, mbp-1 with --levels 1).

A Tardis or Databento file holding several symbols needs --symbol (import that one) or --split-symbols (one dataset NAME-SYMBOL per symbol).

Every row is checked; a problem stops the import with the file, line and reason, and leaves nothing behind.
"""


class _Progress:
    """Progress on stderr: a live line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = 0.0
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if now - self.last < (0.5 if self.tty else 5.0) and done < total:
            return
        if now - self.start < 1.0 and done < total:  # quick imports stay quiet
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        text = f"importing: {pct:5.1f}%  {rows:,} rows  {now - self.start:.1f} s"
        self.shown = True
        if self.tty:
            sys.stderr.write("\r" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.shown:
            sys.stderr.write("\n")


@app.command("import", epilog=IMPORT_EPILOG)
def import_(
    sources: list[Path] = typer.Argument(..., help="Files to import, in time order."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name (letters, digits, _ - .)."),
    fmt: str = typer.Option(
        "auto",
        "--format",
        "-f",
        help="auto | csv | parquet | lobster | binance | tardis | databento.",
    ),
    symbol: str | None = typer.Option(
        None,
        "--symbol",
        "-s",
        help="Symbol to record (default: from the file or its name); for Tardis and Databento "
        "files, the one symbol to import.",
    ),
    levels: int = typer.Option(
        10,
        "--levels",
        min=1,
        max=10,
        help="Tardis and Databento: book levels a side to take (a book is emitted once both "
        "sides have them); levels past them are padded like LOBSTER's empty levels.",
    ),
    split_symbols: bool = typer.Option(
        False,
        "--split-symbols",
        help="Tardis and Databento: one dataset NAME-SYMBOL per symbol of the files.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing dataset of this name."),
) -> None:
    """Import order-book files as dataset NAME (written atomically to $LOB_HOME/datasets/NAME)."""
    from shared.data.importer import import_sources, import_split
    from shared.data.store import open_dataset
    from shared.errors import BadConfig

    progress = _Progress()
    t0 = time.monotonic()
    try:
        if split_symbols:
            if symbol is not None:
                raise BadConfig("--symbol and --split-symbols exclude each other")
            paths = import_split(
                sources, name=name, fmt=fmt, levels=levels, force=force, progress=progress
            )
        else:
            paths = {
                "": import_sources(
                    sources,
                    name=name,
                    fmt=fmt,
                    symbol=symbol,
                    levels=levels,
                    force=force,
                    progress=progress,
                )
            }
    finally:
        progress.close()
    for path in paths.values():
        ds = open_dataset(path.name, path.parent.parent)
        typer.echo(
            f"imported {ds.rows:,} rows ({', '.join(ds.symbols)}) from {len(sources)} file(s) "
            f"as {ds.name!r} in {time.monotonic() - t0:.1f} s -> {path}"
        )
    settings = ds.meta.get("settings", {})
    if settings.get("gaps"):
        typer.echo(
            f"note: {settings['gaps']} sequence gap(s) in the capture, {settings['resyncs']} "
            "resynced from a later REST snapshot (no rows between a gap and its resync)"
        )
    for key, what in (
        ("one_sided_skipped", "one-sided book state(s)"),
        ("crossed_skipped", "crossed book state(s)"),
        ("shallow_skipped", f"book state(s) with fewer than {levels} levels a side"),
    ):
        if settings.get(key):
            typer.echo(f"note: {settings[key]:,} {what} skipped")


@app.command("synth", epilog="Example:\n\n  lob data synth --rows 3700000 --name big --seed 1")
def synth(
    rows: int = typer.Option(..., "--rows", "-r", min=1, help="Number of snapshots."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same market)."),
    symbol: str = typer.Option("SYNTH", "--symbol", "-s", help="Symbol to record."),
    lean_levels: str = typer.Option(
        "1-3",
        "--lean-levels",
        help="Book levels whose size imbalance carries the signal, e.g. 3-5 (level-1 imbalance "
        "then cannot see it).",
    ),
    planted: bool = typer.Option(
        False,
        "--planted",
        help="The market of `lob bench quality`: a stronger pressure that lasts ~50 rows and "
        "leans each snapshot only a little, so the book's history carries the signal.",
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing dataset of this name."),
) -> None:
    """Write a synthetic market with a planted, learnable signal as dataset NAME.

    Discrete 0.01 ticks, spread >= 1 tick, heavy-tailed sizes, and a size imbalance at the
    --lean-levels (default 1-3) that predicts the next mid moves (see shared/data/synth.py).
    Generated in chunks, so millions of rows fit in little memory.

    lob data synth --rows 30000 --name planted --seed 11 --lean-levels 3-5 --planted
    is the planted market that `lob bench quality` trains on.
    """
    import dataclasses

    import numpy as np

    from shared.data.store import dataset_writer
    from shared.data.synth import DEFAULT, PLANTED, synth_chunks
    from shared.errors import BadConfig

    try:
        first, last = (int(v) for v in lean_levels.split("-"))
    except ValueError:
        raise BadConfig(
            f"--lean-levels: expected FIRST-LAST such as 3-5, got {lean_levels!r}"
        ) from None
    if not 1 <= first <= last <= 10:
        raise BadConfig(f"--lean-levels: levels lie within 1-10, got {lean_levels!r}")
    t0 = time.monotonic()
    sym = symbol.strip().upper()
    market = PLANTED if planted else DEFAULT
    with dataset_writer(name, force=force) as writer:
        for ts, features in synth_chunks(rows, seed, (first, last), market):
            writer.append(ts, features, np.zeros(len(ts), dtype=np.uint16))
        writer.finish(
            symbols=[sym],
            settings={
                "format": "synth",
                "synth": {
                    "rows": rows,
                    "seed": seed,
                    "symbol": sym,
                    "lean": [first, last],
                    "market": dataclasses.asdict(market),
                },
            },
        )
    typer.echo(f"wrote {rows:,} synthetic rows as {name!r} in {time.monotonic() - t0:.1f} s")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the datasets in $LOB_HOME/datasets."""
    from shared.config import get_settings
    from shared.data.store import list_datasets

    items = list_datasets()
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        root = get_settings().storage.home / "datasets"
        typer.echo(f"no datasets in {root} (make one with `lob data synth` or `lob data import`)")
        return
    from datetime import UTC, datetime

    def day(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")

    header = ("NAME", "ROWS", "SYMBOLS", "START (UTC)", "END (UTC)", "FORMAT")
    table = [
        (
            m["name"],
            f"{m['rows']:,}",
            ",".join(m.get("symbols", [])),
            day(m["ts_start"]),
            day(m["ts_end"]),
            ",".join(
                m.get("settings", {}).get("formats") or [m.get("settings", {}).get("format", "")]
            ),
        )
        for m in items
    ]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for r in [header, *table]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@app.command("show", epilog="Example:\n\n  lob data show btc\n\n  lob data show btc --json")
def show(
    name: str = typer.Argument(..., help="Dataset name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Rows, time span, spread and mid statistics, and the class balance under the default triple-barrier labels (span 100, k 1, h 100)."""
    from shared.data.store import open_dataset
    from shared.data.summary import summarize

    s = summarize(open_dataset(name))
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    sp, bps, mid = s["spread"], s["spread_bps"], s["mid"]
    lines = [
        f"dataset   {s['name']}  ({s['path']})",
        f"rows      {s['rows']:,}   symbols {', '.join(s['symbols'])}",
        f"time      {s['start']} -> {s['end']}  ({s['duration_s']:,.1f} s, "
        f"median step {s['median_interval_ms']:.3f} ms)",
        f"spread    mean {sp['mean']:.6g}  median {sp['median']:.6g}  p1 {sp['p1']:.6g}  "
        f"p99 {sp['p99']:.6g}  max {sp['max']:.6g}  (mean {bps['mean']:.3f} bps)",
        f"mid       first {mid['first']:.6g}  last {mid['last']:.6g}  min {mid['min']:.6g}  "
        f"max {mid['max']:.6g}  log-return sd {s['mid_log_return_std']:.3g}",
    ]
    lab = s.get("labels")
    if lab:
        c, f = lab["counts"], lab["fractions"]
        lines.append(
            f"labels    {lab['labeller']}: "
            + "  ".join(f"{k} {c[k]:,} ({f[k]:.1%})" for k in ("DOWN", "NEUTRAL", "UP"))
            + f"  IGNORE {lab['ignore']:,}"
        )
    if s["sources"]:
        lines.append(f"sources   {', '.join(s['sources'])}")
    lines.append(f"sha256    {s['sha256']}")
    typer.echo("\n".join(lines))
