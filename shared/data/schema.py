"""The snapshot schema (docs/ARCHITECTURE.md "Snapshot schema"): ts, symbol, then per level
ask_px, ask_sz, bid_px, bid_sz."""

from __future__ import annotations

LEVELS = 10
FIELDS_PER_LEVEL = ("ask_px", "ask_sz", "bid_px", "bid_sz")
FEATURE_COLUMNS: tuple[str, ...] = tuple(
    f"{field}_{level}" for level in range(1, LEVELS + 1) for field in FIELDS_PER_LEVEL
)
N_FEATURES = len(FEATURE_COLUMNS)  # 40
CANONICAL_COLUMNS: tuple[str, ...] = ("ts", "symbol", *FEATURE_COLUMNS)

# Column indices into the (N, 40) feature array.
ASK_PX_1, ASK_SZ_1, BID_PX_1, BID_SZ_1 = 0, 1, 2, 3
ASK_PX = slice(0, N_FEATURES, 4)
ASK_SZ = slice(1, N_FEATURES, 4)
BID_PX = slice(2, N_FEATURES, 4)
BID_SZ = slice(3, N_FEATURES, 4)

WINDOW = 100  # rows per model input window (DeepLOB's T)

# Bounds on what a snapshot may carry, applied alike by the importers (shared.data.checks), the
# feed (shared.feed.snapshot.encode) and inference's decoder (shared.feed.snapshot.decode). A
# symbol becomes part of Redis channel names (lob:predictions:<SYMBOL>), so it is kept short and
# plain.
SYMBOL_PATTERN = r"[A-Za-z0-9._:/-]{1,32}"
SYMBOL_RULE = "1-32 letters, digits, '.', '_', ':', '/' or '-'"
TS_MIN_NS = 631_152_000 * 10**9  # 1990-01-01T00:00:00Z
TS_FUTURE_NS = 86_400 * 10**9  # a timestamp may be at most one day ahead of this machine's clock
