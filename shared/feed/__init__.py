"""Market feeds into the Redis stream lob:snapshots: replay of recorded data, Binance live.

The entry format is defined once, in shared.feed.snapshot.
"""
