"""`lob feed` commands: put order-book snapshots on the Redis stream lob:snapshots.

lob feed replay demo --speed 1 --loop                  # a dataset, in real time, forever
lob feed replay ../shared/data/binance-spot-btcusdt/*.gz --speed 0
lob feed replay ../shared/data/databento-es-mbo/orderbooks_mbo_*.dbn.zst --speed 1
lob feed replay ../shared/data/tardis/deltas_with_snapshot.csv --levels 1
lob feed binance --symbol btcusdt                      # Binance's public depth stream
"""

from __future__ import annotations

import logging
import signal

import typer

from shared.errors import BadConfig

app = typer.Typer(
    help="Feed order-book snapshots into Redis (stream lob:snapshots).", no_args_is_help=True
)


def _redis_url() -> str:
    from shared.config import get_settings

    url = get_settings().redis_url
    if not url:
        raise BadConfig("REDIS_URL is not set (lob up starts an embedded Redis and sets it)")
    return url


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")


def _stop_flag() -> list[bool]:
    flag = [False]

    def _stop(*_: object) -> None:
        flag[0] = True

    signal.signal(signal.SIGTERM, _stop)
    return flag


@app.command()
def replay(
    src: list[str] = typer.Argument(
        ...,
        help="A dataset name, canonical CSV/Parquet file(s), Binance capture file(s) (.gz), "
        "Tardis.dev CSV file(s) or Databento DBN file(s) (.dbn, .dbn.zst).",
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.0, help="1 = recorded pace, 10 = ten times faster, 0 = at once."
    ),
    loop: bool = typer.Option(False, "--loop", help="Start over at the end, forever."),
    symbol: str | None = typer.Option(
        None,
        "--symbol",
        help="Publish under this symbol; for a multi-symbol source, replay only this one "
        "(Tardis and Databento files: replay only this one, under its own name).",
    ),
    levels: int = typer.Option(
        10,
        "--levels",
        min=1,
        max=10,
        help="Tardis and Databento files: book levels a side to take; the rest are padded.",
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Stop after N snapshots."),
    maxlen: int = typer.Option(
        50_000, "--maxlen", min=100, help="Cap of the stream (XADD MAXLEN ~)."
    ),
) -> None:
    """Replay recorded snapshots into lob:snapshots, keeping their spacing (scaled by --speed)."""
    from shared.feed.replay import replay as run_replay
    from shared.feed.sources import open_source
    from shared.feed.stream import StreamWriter

    _logging()
    open_source(src, symbol, levels)  # fail fast on a bad source, before connecting anywhere
    writer = StreamWriter(_redis_url(), maxlen=maxlen)
    stop = _stop_flag()
    try:
        stats = run_replay(
            lambda: open_source(src, symbol, levels),
            writer,
            speed=speed,
            loop=loop,
            limit=limit,
            should_stop=lambda: stop[0],
        )
    finally:
        writer.close()
    typer.echo(f"replayed {stats.sent} snapshots ({stats.passes} pass(es))")


@app.command()
def binance(
    symbol: str = typer.Option("btcusdt", "--symbol", help="Binance spot symbol."),
    ws_url: str = typer.Option(
        "wss://stream.binance.com:9443", "--ws-url", help="WebSocket base URL of the streams."
    ),
    rest_url: str = typer.Option(
        "https://api.binance.com", "--rest-url", help="REST base URL (depth snapshots)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Stop after N snapshots."),
    maxlen: int = typer.Option(
        50_000, "--maxlen", min=100, help="Cap of the stream (XADD MAXLEN ~)."
    ),
) -> None:
    """Follow Binance's public depth stream (diffs + REST snapshot, resync on a gap) into Redis."""
    import asyncio

    from shared.feed.binance import BinanceFeed
    from shared.feed.stream import StreamWriter

    _logging()
    writer = StreamWriter(_redis_url(), maxlen=maxlen)
    feed = BinanceFeed(symbol, writer, ws_url=ws_url, rest_url=rest_url, limit=limit)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, feed.stop)
        await feed.run()

    try:
        asyncio.run(main())
    finally:
        writer.close()
    typer.echo(f"sent {feed.sent} snapshots ({feed.resyncs} resync(s))")
