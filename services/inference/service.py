"""The serving loop: stream in, predictions out, exactly once per snapshot.

Consumption is a Redis consumer group on `lob:snapshots`. For each batch read, snapshots are
grouped into rounds holding at most one snapshot per symbol (windows slide in order), and each
round is one batched forward across symbols. All messages of a batch go out in one MULTI/EXEC
(each prediction also appended to its symbol's capped stream, for the gateway relay's backfill)
that also records, per symbol, the last published stream id and seq (hash `lob:inference:last`)
and XACKs the entries. So publishing and acknowledging happen together or not at all:

- killed before EXEC: nothing was published; the entries are still pending for our consumer
  name and are read again (`XREADGROUP ... 0`) by the next process;
- connection lost during EXEC: we keep the batch and, once Redis answers, look at the recorded
  last id to learn whether it ran, and run it again only if it did not;
- an entry at or below the recorded last id of its symbol is acknowledged, never republished.

On start-up the windows are rebuilt from the stream history up to the recorded last ids, and seq
continues from the recorded seq, so a restart neither warms up again nor renumbers.

Scoring comes after publishing, so it never delays a prediction (services/inference/scoring.py):
once a batch is out (`_scored`), its snapshots are scored in order with the champion's
predictions and, when a challenger (the shadow, services/inference/reload.py) is loaded, the
challenger's, made then on the same windows by a second Predictor that follows the champion's
rows and never published. A drift change (ModelDegraded on lob:models) goes out right after the
batch that caused it; the LiveScores messages, the lob:inference:scores key and the minute rows
are summaries, sent after that (`_publish_scores`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import redis

from services.inference.history import ScoreHistory
from services.inference.predictor import LoadedModel, Predictor
from services.inference.reload import ModelWatcher
from services.inference.scoring import LiveScorer
from services.inference.status import STATUS_KEY, Metrics, StatusBoard
from shared.data.schema import WINDOW
from shared.errors import DataError
from shared.events import (
    LIVE_SCORES_KEY,
    PREDICTIONS_STREAM_FIELD,
    PREDICTIONS_STREAM_MAXLEN,
    SNAPSHOT_STREAM,
    Prediction,
    predictions_channel,
    predictions_stream,
)
from shared.feed.snapshot import Snapshot, decode

log = logging.getLogger("lob.inference")

GROUP = "inference"
LAST_KEY = "lob:inference:last"  # hash: symbol -> last published stream id
SEQ_KEY = "lob:inference:seq"  # hash: symbol -> seq of that message
READ_COUNT = 64  # entries per XREADGROUP: bounds the latency added by a backlog
BLOCK_MS = 200  # an idle loop still swaps a verified model within 0.2 s
STATUS_EVERY_S = 2.0
RESTORE_SCAN_LIMIT = 50_000  # stream entries read back at start-up to refill windows
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0)


def stream_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Batch:
    """Everything one MULTI/EXEC publishes and acknowledges."""

    messages: list[tuple[str, str]] = field(default_factory=list)  # (channel, JSON)
    last_ids: dict[str, bytes] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)
    acks: list[bytes] = field(default_factory=list)
    # What to score once it is out: each round's snapshots and the champion's predictions.
    rounds: list[list[tuple[Snapshot, Prediction]]] = field(default_factory=list)


class InferenceService:
    def __init__(
        self,
        *,
        redis_url: str,
        home: Path,
        metrics: Metrics,
        board: StatusBoard,
        group: str = GROUP,
        consumer: str = "inference-1",
        start_id: str = "$",
        stream: str = SNAPSHOT_STREAM,
        database_url: str | None = None,
        drift_window: int = 1000,
        drift_margin: float = 0.10,
    ) -> None:
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.home = home
        self.metrics = metrics
        self.board = board
        self.group = group
        self.consumer = consumer
        self.start_id = start_id
        self.stream = stream
        self.predictor = Predictor()
        self.shadow: Predictor | None = None  # the challenger's, while one is loaded
        self.watcher = ModelWatcher(home=home, redis_url=redis_url, metrics=metrics, board=board)
        self.scorer = LiveScorer(
            metrics=metrics, drift_window=drift_window, drift_margin=drift_margin
        )
        self.history = ScoreHistory(database_url)
        self.last_id: dict[str, tuple[int, int]] = {}
        self._group_ready = False
        self._read_pending = True  # first drain our own unacknowledged entries
        self._restored = False
        self._inflight: Batch | None = None
        self._status_written = (-1, 0.0)

    # -- lifecycle -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self.watcher.load_initial()
        self._swap_if_pending()
        self.watcher.start()
        attempt = 0
        try:
            while not stop.is_set():
                try:
                    self._step()
                    if attempt:
                        log.info("Redis is back")
                        self.metrics.reconnects.inc()
                    attempt = 0
                    self.board.redis_ok = True
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    if attempt == 0:
                        log.warning("lost Redis (%s); retrying", exc)
                    self.board.redis_ok = False
                    self._group_ready = False
                    self._read_pending = True
                    stop.wait(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
                    attempt += 1
                except redis.ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    # The stream or group vanished (Redis restarted without persistence):
                    # whatever the stream holds now arrived since then, so read it from the start.
                    log.warning("consumer group gone; recreating it")
                    self._group_ready = False
                    self._read_pending = True
                    self.start_id = "0"
        finally:
            self.watcher.stop()
            self.history.close(self.scorer.minutes(idle=True, final=True))

    def _step(self) -> None:
        if self._inflight is not None:
            self._settle_inflight()
        if not self._group_ready:
            self._create_group()
        if not self._restored:
            self._restore()
        entries = self._read()
        self._swap_if_pending()
        if entries:
            self._process(entries)
        self._write_status()
        self._publish_scores(idle=not entries)

    def _create_group(self) -> None:
        try:
            self.redis.xgroup_create(self.stream, self.group, id=self.start_id, mkstream=True)
            log.info(
                "created consumer group %s on %s at %s", self.group, self.stream, self.start_id
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True
        # A group recreated later (Redis restarted without persistence) must start at the stream's
        # beginning: snapshots written before we reconnect would otherwise never be predicted.
        self.start_id = "0"

    def _read(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        if self._read_pending:
            # Entries delivered to this consumer name but never acknowledged: a previous process
            # died before its MULTI ran, so none of them was published.
            reply = self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=READ_COUNT
            )
            entries = reply[0][1] if reply else []
            if entries:
                return entries
            self._read_pending = False
        reply = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=READ_COUNT, block=BLOCK_MS
        )
        return reply[0][1] if reply else []

    def _swap_if_pending(self) -> None:
        loaded = self.watcher.take()
        if loaded is not None:
            self._swap_champion(loaded)
        change = self.watcher.take_shadow()
        if change is not None:
            self._swap_shadow(change.model)

    def _swap_champion(self, loaded: LoadedModel) -> None:
        previous = self.predictor.model.version if self.predictor.model else None
        self.predictor.set_model(loaded)
        self.scorer.set_model(loaded.version, loaded.serving.run_dir)
        self.metrics.model_loaded.set(1)
        if previous is not None:
            self.metrics.reloads.inc()
        self.board.set_model(loaded.version, str(loaded.serving.run_dir))
        log.info("serving model %s (was %s)", loaded.version, previous)

    def _swap_shadow(self, loaded: LoadedModel | None) -> None:
        if loaded is None:
            self.shadow = None
            self.scorer.set_shadow(None, None)
        else:
            shadow = Predictor(books=False)
            shadow.follow(self.predictor)
            shadow.set_model(loaded)
            self.shadow = shadow
            self.scorer.set_shadow(loaded.version, loaded.serving.run_dir)
        self.metrics.shadow_loaded.set(int(loaded is not None))
        self.board.set_shadow(loaded.version if loaded else None)
        log.info("shadow: %s", loaded.version if loaded else "none")

    # -- the work --------------------------------------------------------------------------------

    def _process(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        batch = Batch()
        queues: dict[str, deque[tuple[bytes, Snapshot]]] = {}
        for entry_id, fields in entries:
            batch.acks.append(entry_id)
            if not fields:  # a pending entry trimmed from the stream meanwhile: nothing to do
                continue
            try:
                snap = decode(fields)
            except DataError as exc:
                log.warning("skipping stream entry %s: %s", entry_id.decode(), exc)
                self.metrics.bad_entries.inc()
                continue
            sid = stream_id(entry_id)
            if sid <= self.last_id.get(snap.symbol, (-1, -1)):
                self.metrics.skipped.inc()
                continue
            self.last_id[snap.symbol] = sid
            queues.setdefault(snap.symbol, deque()).append((entry_id, snap))
        while queues:
            # One round: the oldest waiting snapshot of every symbol, predicted as one batch.
            round_ = [q.popleft() for q in queues.values()]
            queues = {s: q for s, q in queues.items() if q}
            snaps = [snap for _, snap in round_]
            predictions, forward_s = self.predictor.predict(snaps)
            if forward_s:
                self.metrics.forward.observe(forward_s)
                self.metrics.batch.observe(sum(p.status == "ok" for p in predictions))
            batch.rounds.append(list(zip(snaps, predictions, strict=True)))
            now = time.time_ns()
            for (entry_id, snap), pred in zip(round_, predictions, strict=True):
                pred.latency_ms = max(0.0, (now - snap.sent_ns) / 1e6) if snap.sent_ns else 0.0
                batch.messages.append((predictions_channel(snap.symbol), pred.model_dump_json()))
                batch.last_ids[snap.symbol] = entry_id
                batch.seqs[snap.symbol] = pred.seq
                self.metrics.published.labels(pred.status).inc()
                if snap.sent_ns:
                    self.metrics.latency.observe(pred.latency_ms / 1e3)
        self.metrics.snapshots.inc(len(entries))
        self.metrics.symbols.set(len(self.predictor.windows))
        self.board.symbols = len(self.predictor.windows)
        self._inflight = batch
        self._execute(batch)
        self._inflight = None
        self._scored(batch)

    def _execute(self, batch: Batch) -> None:
        pipe = self.redis.pipeline(transaction=True)
        prefix = predictions_channel("")
        for channel, text in batch.messages:
            pipe.publish(channel, text)
            if channel.startswith(prefix):
                # The same JSON into the symbol's capped stream: a gateway relay re-subscribing
                # after losing Redis reads back what pub/sub gave while it was away.
                pipe.xadd(
                    predictions_stream(channel[len(prefix) :]),
                    {PREDICTIONS_STREAM_FIELD: text},
                    maxlen=PREDICTIONS_STREAM_MAXLEN,
                    approximate=True,
                )
        if batch.last_ids:
            pipe.hset(LAST_KEY, mapping=batch.last_ids)  # type: ignore[arg-type]
            pipe.hset(SEQ_KEY, mapping=batch.seqs)  # type: ignore[arg-type]
        if batch.acks:
            pipe.xack(self.stream, self.group, *batch.acks)
        pipe.execute()

    def _settle_inflight(self) -> None:
        """The connection broke around EXEC: find out whether it ran, and run it if not."""
        batch = self._inflight
        assert batch is not None
        if batch.last_ids:
            recorded = self.redis.hmget(LAST_KEY, list(batch.last_ids))
            ran = all(
                r is not None and stream_id(r) >= stream_id(i)
                for r, i in zip(recorded, batch.last_ids.values(), strict=True)
            )
        else:
            ran = False
        if not ran:
            self._execute(batch)
        self._inflight = None
        self._scored(batch)

    def _scored(self, batch: Batch) -> None:
        """Score a batch that is out, round by round (the challenger predicts here, on the same
        windows), and announce any drift change it made."""
        news: list[tuple[str, str]] = []
        for round_ in batch.rounds:
            snaps = [snap for snap, _ in round_]
            shadows = self.shadow.predict(snaps)[0] if self.shadow else [None] * len(snaps)
            for (snap, pred), shadow in zip(round_, shadows, strict=True):
                news += self.scorer.observe(snap, pred, shadow)  # ModelDegraded
        if news:
            pipe = self.redis.pipeline(transaction=False)
            for channel, text in news:
                pipe.publish(channel, text)
            pipe.execute()

    def _restore(self) -> None:
        """Refill each symbol's window from the stream up to its last published entry."""
        last = {k.decode(): v for k, v in self.redis.hgetall(LAST_KEY).items()}
        seqs = {k.decode(): int(v) for k, v in self.redis.hgetall(SEQ_KEY).items()}
        self._restored = True
        if not last:
            return
        limits = {s: stream_id(v) for s, v in last.items()}
        self.last_id.update(limits)
        wanted: dict[str, list[Snapshot]] = {s: [] for s in limits}
        top = max(last.values(), key=stream_id)  # '…-10' sorts below '…-9' as bytes
        scanned = 0
        cursor: bytes | str = top
        while scanned < RESTORE_SCAN_LIMIT and any(len(v) < WINDOW for v in wanted.values()):
            chunk = self.redis.xrevrange(self.stream, max=cursor, min="-", count=1000)
            if not chunk:
                break
            for entry_id, fields in chunk:
                try:
                    snap = decode(fields)
                except DataError:
                    continue
                rows = wanted.get(snap.symbol)
                if (
                    rows is not None
                    and len(rows) < WINDOW
                    and stream_id(entry_id) <= limits[snap.symbol]
                ):
                    rows.append(snap)
            scanned += len(chunk)
            cursor = b"(" + chunk[-1][0]  # exclusive: continue below the oldest one read
        for symbol, rows in wanted.items():
            for snap in reversed(rows):
                self.predictor.push(snap)
            if symbol in self.predictor.windows and symbol in seqs:
                self.predictor.windows[symbol].seq = seqs[symbol]
        if self.shadow is not None and self.shadow.model is not None:
            self.shadow.follow(self.predictor)
            self.shadow.set_model(self.shadow.model)
        log.info(
            "restored %d symbol windows from the stream (%s)",
            len(wanted),
            ", ".join(f"{s}: {len(r)} rows" for s, r in sorted(wanted.items())),
        )

    def _publish_scores(self, *, idle: bool) -> None:
        """Live scores (services/inference/scoring.py): the LiveScores messages and the report key
        when due, outside the batch's MULTI (a summary, not part of exactly-once), and finished
        minutes to the history writer."""
        messages = self.scorer.due()
        report = self.scorer.report()
        if messages or report is not None:
            pipe = self.redis.pipeline(transaction=False)
            for channel, text in messages:
                pipe.publish(channel, text)
            if report is not None:
                pipe.set(LIVE_SCORES_KEY, report)
            pipe.execute()
        self.history.submit(self.scorer.minutes(idle=idle))

    def _write_status(self) -> None:
        version, at = self._status_written
        now = time.monotonic()
        if version == self.board.version and now - at < STATUS_EVERY_S:
            return
        self.redis.set(STATUS_KEY, self.board.to_json())
        self._status_written = (self.board.version, now)
