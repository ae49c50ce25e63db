"""Live scoring and drift: every prediction resolved into the label its model was trained for,
scored, backtested, and watched for drift (docs/ARCHITECTURE.md, "Live scoring and drift").

Per symbol and label settings in use, O(horizon) state: the streaming labeller of those settings
(shared.labels.streaming_labeller, read from the run's config.json) and the predictions still
waiting for their horizon. The champion and the challenger (the shadow) share one labeller when
they were trained on the same labels. Row t of a symbol is the t-th snapshot predicted for it
since its labeller started: at its first snapshot after start-up, or once a model with those
label settings came in. The labeller's label for row t is the offline labeller's for row t of the same
snapshots, bit for bit. When row t + horizon arrives, the prediction made at row t (status ok)
resolves: an IGNORE row (the triple barrier's volatility warm-up) is counted but not scored; the
others are scored under the model version that made the prediction.

Per model version and symbol (`Tracker`): the confusion matrix over the last 1,000 scored
predictions and since the version was loaded, accuracy and macro F1 from them; the backtest rule
of shared/ml/backtest.py (StreamingBacktest) at the run's θ (result.json
backtest.entries.model.theta) and fee; drift over the last `drift_window`; the last 50 outcomes;
the current minute's counts, for PostgreSQL (services/inference/history.py).

What goes out (services/inference/service.py sends it):
- `ModelDegraded` on lob:models when a symbol's drift state changes for the champion, right
  after the batch that changed it: degraded once test macro F1 − live macro F1 over the last
  `drift_window` > `drift_margin`, cleared (degraded false) once it is not; evaluated only once
  `drift_window` are scored;
- `LiveScores` on lob:predictions:<SYMBOL>, at most once a second per symbol, while it changes,
  never the challenger's (nothing of the shadow reaches clients over the WebSocket);
- `LiveScoresReport` under lob:inference:scores (champion, challenger and retired versions, each
  with its role), about once a second (every 2 s unchanged, so it
  reappears after a Redis restart); the gauges lob_live_macro_f1 / lob_live_accuracy with it;
- finished minutes (and the open minute when the stream is quiet, every 10 s under load).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ValidationError

from services.inference.status import Metrics
from shared.db.live_scores import MinutePart
from shared.errors import LobError
from shared.events import (
    MODELS_CHANNEL,
    LiveBacktest,
    LiveScores,
    LiveScoresReport,
    ModelDegraded,
    Outcome,
    Prediction,
    ScoreFigures,
    predictions_channel,
)
from shared.feed.snapshot import Snapshot
from shared.labels import CLASS_NAMES, IGNORE, StreamingLabeller, streaming_labeller
from shared.ml.backtest import StreamingBacktest
from shared.ml.metrics import f1_per_class
from shared.rundir import RunDir
from shared.train_config import TrainConfig

log = logging.getLogger("lob.inference")

SCORE_WINDOW = 1000  # the "last 1,000 resolved predictions"
RECENT_KEPT = 50  # outcomes in each LiveScores message: the UI's strip of right and wrong
VERSIONS_KEPT = 4  # model versions whose figures are kept (the served one and three before it)
SCORES_EVERY_S = 1.0  # at most one LiveScores message per symbol per second
REPORT_EVERY_S = 2.0  # the report key is rewritten this often even when nothing changed
QUIET_FLUSH_S = 1.0  # the open minutes go to PostgreSQL once the stream is quiet this long
FLUSH_EVERY_S = 10.0  # and at least this often under load (what a crash can lose)
NS_PER_MINUTE = 60 * 10**9

Message = tuple[str, str]  # (channel, JSON), as service.Batch.messages holds them
Role = Literal["champion", "challenger", "retired"]


class _TestScores(BaseModel):
    f1_macro: float | None = None
    accuracy: float | None = None


class _Entry(BaseModel):
    theta: float | None = None


class _Backtest(BaseModel):
    entries: dict[str, _Entry] = {}


class _Result(BaseModel):
    """The parts of result.json scoring needs (shared/ml/evaluation.py writes them)."""

    model: _TestScores = _TestScores()
    backtest: _Backtest = _Backtest()


@dataclass(frozen=True)
class ScoringSpec:
    """What a served model is scored with, from its run: label settings, θ, test scores."""

    version: str
    cfg: TrainConfig
    label_key: tuple[object, ...]  # StreamingLabeller.key of its label settings
    theta: float | None
    test_f1: float | None
    test_accuracy: float | None

    @classmethod
    def of_run(cls, version: str, run_dir: Path) -> ScoringSpec:
        """Raises LobError (no or unreadable config.json) or ValidationError (bad settings)."""
        run = RunDir(run_dir)
        try:
            cfg = TrainConfig(**run.read_config()["settings"])
        except (KeyError, TypeError) as exc:
            raise LobError(f"{run.config} has no settings ({exc})") from exc
        result = _Result.model_validate(run.read_result() or {})
        entry = result.backtest.entries.get("model")
        return cls(
            version=version,
            cfg=cfg,
            label_key=streaming_labeller(cfg).key,
            theta=entry.theta if entry else None,
            test_f1=result.model.f1_macro,
            test_accuracy=result.model.accuracy,
        )


class Confusion:
    """3×3 counts (row = realised, column = predicted) over the last `size` scored predictions,
    or over all of them when size is None."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self.counts = np.zeros((3, 3), dtype=np.int64)
        self.samples = 0
        self._kept: deque[tuple[int, int]] = deque()

    def add(self, realised: int, predicted: int) -> None:
        if self.size is not None:
            if len(self._kept) == self.size:
                self.counts[self._kept.popleft()] -= 1
                self.samples -= 1
            self._kept.append((realised, predicted))
        self.counts[realised, predicted] += 1
        self.samples += 1

    @property
    def full(self) -> bool:
        return self.size is not None and self.samples == self.size

    def f1_macro(self) -> float:
        return float(f1_per_class(self.counts).mean())

    def accuracy(self) -> float:
        return float(np.trace(self.counts) / self.samples) if self.samples else 0.0

    def figures(self) -> ScoreFigures:
        return ScoreFigures(
            samples=self.samples,
            accuracy=self.accuracy() if self.samples else None,
            f1_macro=self.f1_macro() if self.samples else None,
            confusion=self.counts.tolist(),
        )


@dataclass
class _Pending:
    """A prediction (status ok) waiting for its horizon."""

    row: int
    version: str
    predicted: int
    probs: np.ndarray  # (3,) down, neutral, up
    ask: float
    bid: float
    seq: int
    ts: int


@dataclass
class _Stream:
    labeller: StreamingLabeller
    pending: deque[_Pending] = field(default_factory=deque)


@dataclass
class _Minute:
    minute: int  # ts // NS_PER_MINUTE
    resolved: int = 0
    correct: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((3, 3), dtype=np.int64))
    trades: int = 0
    net_bps: float = 0.0


class Tracker:
    """The live figures of one model version on one symbol, since the version was loaded."""

    def __init__(self, spec: ScoringSpec, symbol: str, loaded_at: float, drift_window: int) -> None:
        self.spec, self.symbol, self.loaded_at = spec, symbol, loaded_at
        self.last = Confusion(SCORE_WINDOW)
        self.total = Confusion()
        self.drift = Confusion(drift_window)
        self.backtest = (
            StreamingBacktest(horizon=spec.cfg.horizon, theta=spec.theta, fee_bps=spec.cfg.fee_bps)
            if spec.theta is not None
            else None
        )
        self.resolved = 0
        self.degraded = False
        self.recent: deque[Outcome] = deque(maxlen=RECENT_KEPT)
        self.minute: _Minute | None = None
        self.changes = 0  # bumped by every scored prediction: what is not yet sent or reported

    def score(self, p: _Pending, realised: int) -> MinutePart | None:
        """Count a scored prediction; returns the minute it closed, if it opened a new one."""
        closed = None
        minute = p.ts // NS_PER_MINUTE
        if self.minute is None or minute != self.minute.minute:
            closed = self.take_minute()
            self.minute = _Minute(minute)
        for confusion in (self.last, self.total, self.drift):
            confusion.add(realised, p.predicted)
        m = self.minute
        m.resolved += 1
        m.correct += realised == p.predicted
        m.confusion[realised, p.predicted] += 1
        if self.backtest is not None:
            net = self.backtest.push(p.probs, p.row, p.ask, p.bid)
            if net is not None:
                m.trades += 1
                m.net_bps += net
        names = CLASS_NAMES[p.predicted], CLASS_NAMES[realised]
        self.recent.append(Outcome(seq=p.seq, predicted=names[0], realised=names[1]))  # type: ignore[arg-type]
        self.changes += 1
        return closed

    def take_minute(self) -> MinutePart | None:
        """The open minute's counts as a row part (then zeroed), or None when it has none."""
        m = self.minute
        if m is None or (m.resolved == 0 and m.trades == 0):
            return None
        part = MinutePart(
            model_version=self.spec.version,
            symbol=self.symbol,
            minute=datetime.fromtimestamp(m.minute * 60, UTC),
            resolved=m.resolved,
            correct=m.correct,
            confusion=m.confusion.tolist(),
            window_accuracy=self.last.accuracy() if self.last.samples else None,
            window_f1_macro=self.last.f1_macro() if self.last.samples else None,
            trades=m.trades,
            net_bps=m.net_bps,
        )
        self.minute = _Minute(m.minute)
        return part

    def message(self, role: Role) -> LiveScores:
        spec, bt = self.spec, self.backtest
        return LiveScores(
            model_version=spec.version,
            symbol=self.symbol,
            role=role,
            labels=spec.cfg.labels,
            horizon=spec.cfg.horizon,
            loaded_at=self.loaded_at,
            resolved=self.resolved,
            last=self.last.figures(),
            since_load=self.total.figures(),
            backtest=LiveBacktest(
                theta=spec.theta,
                fee_bps=spec.cfg.fee_bps,
                horizon=spec.cfg.horizon,
                trades=bt.trades if bt else 0,
                net_bps=bt.net_bps if bt else 0.0,
                hit_rate=bt.wins / bt.trades if bt and bt.trades else None,
                position=bt.side if bt else 0,  # type: ignore[arg-type]
            ),
            test_accuracy=spec.test_accuracy,
            test_f1_macro=spec.test_f1,
            degraded=self.degraded,
            recent=list(self.recent),
        )


def _pending(row: int, snap: Snapshot, pred: Prediction) -> _Pending:
    probs = pred.probs
    assert probs is not None and pred.model_version is not None
    return _Pending(
        row=row,
        version=pred.model_version,
        predicted=CLASS_NAMES.index(str(pred.signal)),
        probs=np.array([probs.down, probs.neutral, probs.up]),
        ask=snap.best_ask,
        bid=snap.best_bid,
        seq=pred.seq,
        ts=snap.ts,
    )


class LiveScorer:
    """The serving loop's scorer: `observe` every snapshot with its predictions (the champion's
    and the challenger's) in stream order."""

    def __init__(self, *, metrics: Metrics, drift_window: int, drift_margin: float) -> None:
        self.metrics = metrics
        self.drift_window, self.drift_margin = drift_window, drift_margin
        self.spec: ScoringSpec | None = None  # the served model's, None when it is not scored
        self.shadow: ScoringSpec | None = None  # the challenger's
        self._loaded: dict[str, tuple[ScoringSpec, float]] = {}  # version -> spec, loaded at
        self._streams: dict[str, dict[tuple[object, ...], _Stream]] = {}  # symbol -> label key ->
        self._trackers: dict[tuple[str, str], Tracker] = {}
        self._sent: dict[tuple[str, str], int] = {}  # tracker -> its `changes` last sent
        self._sent_at: dict[str, float] = {}  # symbol -> when its last LiveScores went out
        self._reported: tuple[int, float] = (-1, -float("inf"))  # (sum of changes, when)
        self._closed: list[MinutePart] = []
        self._flushed_at = time.monotonic()
        self._active_at = time.monotonic()

    # -- the models ------------------------------------------------------------------------------

    def set_model(self, version: str, run_dir: Path) -> None:
        """A model was swapped in: score its predictions from now on (since load starts again,
        unless it was the challenger: then its figures carry on)."""
        if self.shadow is not None and self.shadow.version == version:
            self.spec, self.shadow = self.shadow, None
            log.info("scoring %s live as the champion (it was the challenger)", version)
            return
        self.spec = self._load(version, run_dir)

    def set_shadow(self, version: str | None, run_dir: Path | None) -> None:
        """Score a challenger beside the champion (None: no challenger). The old champion, made
        the challenger by a promotion, carries its figures on."""
        if version is None or run_dir is None:
            self.shadow = None
        elif self.spec is not None and self.spec.version == version:
            self.shadow = None  # a promotion half-seen: the champion is not its own challenger
        elif version in self._loaded:
            self.shadow = self._loaded[version][0]
        else:
            self.shadow = self._load(version, run_dir)

    def _load(self, version: str, run_dir: Path) -> ScoringSpec | None:
        try:
            spec = ScoringSpec.of_run(version, run_dir)
        except (LobError, ValidationError) as exc:
            log.warning("model %s is loaded but not scored live: %s", version, exc)
            return None
        for key in [k for k in self._trackers if k[0] == version]:
            self._drop(key)
        self._loaded.pop(version, None)
        self._loaded[version] = (spec, time.time())
        while len(self._loaded) > VERSIONS_KEPT:
            old = next(v for v in self._loaded if v not in self._in_use())
            del self._loaded[old]
            for key in [k for k in self._trackers if k[0] == old]:
                self._drop(key)
        log.info(
            "scoring %s live: %s labels, horizon %d, theta %s, test macro F1 %s",
            version,
            spec.cfg.labels,
            spec.cfg.horizon,
            spec.theta,
            spec.test_f1,
        )
        return spec

    def _in_use(self) -> set[str]:
        return {s.version for s in (self.spec, self.shadow) if s is not None}

    def role(self, version: str) -> Role:
        if self.spec is not None and version == self.spec.version:
            return "champion"
        if self.shadow is not None and version == self.shadow.version:
            return "challenger"
        return "retired"

    def _drop(self, key: tuple[str, str]) -> None:
        tracker = self._trackers.pop(key)
        part = tracker.take_minute()
        if part is not None:
            self._closed.append(part)
        self._sent.pop(key, None)
        for gauge in (self.metrics.live_f1, self.metrics.live_accuracy, self.metrics.live_degraded):
            with contextlib.suppress(KeyError):  # never set: no scored prediction yet
                gauge.remove(*key)

    # -- the stream ------------------------------------------------------------------------------

    def observe(self, snap: Snapshot, *preds: Prediction | None) -> list[Message]:
        """Push the snapshot's mid; score the predictions whose horizon it completes. `preds`: the
        champion's prediction and the challenger's, if any. Returns the ModelDegraded message
        when that changed the champion's drift state."""
        specs = {s.label_key: s for s in (self.spec, self.shadow) if s is not None}
        streams = self._streams.setdefault(snap.symbol, {})
        for key in [k for k in streams if k not in specs]:
            del streams[key]
        # One prediction per scored version: mid-swap, both predictors may hold the same model.
        scored = {
            p.model_version: p
            for p in reversed(preds)
            if p is not None and p.status == "ok" and p.probs is not None
        }
        out: list[Message] = []
        for key, spec in specs.items():
            stream = streams.get(key)
            if stream is None:
                stream = streams[key] = _Stream(streaming_labeller(spec.cfg))
            for s in (self.spec, self.shadow):
                pred = scored.get(s.version) if s is not None and s.label_key == key else None
                if pred is not None:
                    stream.pending.append(_pending(stream.labeller.n, snap, pred))
            done = stream.labeller.push(snap.mid)
            if done is None:
                continue
            row, label = done
            while stream.pending and stream.pending[0].row < row:  # a row nobody waits for
                stream.pending.popleft()
            while stream.pending and stream.pending[0].row == row:
                out += self._resolve(snap.symbol, stream.pending.popleft(), label)
        return out

    def _resolve(self, symbol: str, p: _Pending, label: int) -> list[Message]:
        loaded = self._loaded.get(p.version)
        if loaded is None:  # its version was dropped meanwhile
            return []
        self.metrics.resolved.inc()
        self._active_at = time.monotonic()
        key = (p.version, symbol)
        tracker = self._trackers.get(key)
        if tracker is None:
            tracker = self._trackers[key] = Tracker(loaded[0], symbol, loaded[1], self.drift_window)
        tracker.resolved += 1
        if label == IGNORE:
            return []
        closed = tracker.score(p, label)
        if closed is not None:
            self._closed.append(closed)
        return self._drift(tracker)

    def _drift(self, tracker: Tracker) -> list[Message]:
        test_f1 = tracker.spec.test_f1
        if self.role(tracker.spec.version) != "champion":
            return []  # drift is news about what clients are served
        if test_f1 is None or not tracker.drift.full:
            return []
        live_f1 = tracker.drift.f1_macro()
        degraded = test_f1 - live_f1 > self.drift_margin
        if degraded == tracker.degraded:
            return []
        tracker.degraded = degraded
        version, symbol = tracker.spec.version, tracker.symbol
        self.metrics.live_degraded.labels(version, symbol).set(int(degraded))
        (log.warning if degraded else log.info)(
            "%s on %s %s: live macro F1 %.3f over the last %d, test %.3f (margin %.2f)",
            version,
            symbol,
            "degraded" if degraded else "recovered",
            live_f1,
            self.drift_window,
            test_f1,
            self.drift_margin,
        )
        message = ModelDegraded(
            model_version=version,
            symbol=symbol,
            degraded=degraded,
            live_f1_macro=live_f1,
            test_f1_macro=test_f1,
            margin=self.drift_margin,
            window=self.drift_window,
            resolved=tracker.resolved,
        )
        return [(MODELS_CHANNEL, message.model_dump_json())]

    # -- what goes out ---------------------------------------------------------------------------

    def due(self, now: float | None = None) -> list[Message]:
        """LiveScores for the symbols whose figures changed, at most one per symbol per second
        (the served version's first when two versions changed on a symbol); never the
        challenger's, which only the report (GET /api/live/scores) holds."""
        now = time.monotonic() if now is None else now
        serving = self.spec.version if self.spec else None
        changed = sorted(
            (
                k
                for k, t in self._trackers.items()
                if t.changes != self._sent.get(k) and self.role(k[0]) != "challenger"
            ),
            key=lambda k: k[0] != serving,
        )
        out: list[Message] = []
        for key in changed:
            symbol = key[1]
            if now - self._sent_at.get(symbol, -float("inf")) < SCORES_EVERY_S:
                continue
            tracker = self._trackers[key]
            message = self._publishable(tracker)
            self._sent[key] = tracker.changes
            self._sent_at[symbol] = now
            out.append((predictions_channel(symbol), message.model_dump_json()))
        return out

    def _publishable(self, tracker: Tracker) -> LiveScores:
        message = tracker.message(self.role(tracker.spec.version))
        labels = (tracker.spec.version, tracker.symbol)
        if message.last.f1_macro is not None and message.last.accuracy is not None:
            self.metrics.live_f1.labels(*labels).set(message.last.f1_macro)
            self.metrics.live_accuracy.labels(*labels).set(message.last.accuracy)
        return message

    def report(self, now: float | None = None) -> str | None:
        """The LiveScoresReport JSON when it is due (changed and a second old, or 2 s old)."""
        now = time.monotonic() if now is None else now
        changes = sum(t.changes + t.resolved for t in self._trackers.values())
        last_changes, at = self._reported
        if now - at < (SCORES_EVERY_S if changes != last_changes else REPORT_EVERY_S):
            return None
        self._reported = (changes, now)
        report = LiveScoresReport(
            scores=[self._publishable(t) for t in self._trackers.values()],
            drift_window=self.drift_window,
            drift_margin=self.drift_margin,
        )
        return report.model_dump_json()

    def minutes(
        self, *, idle: bool, now: float | None = None, final: bool = False
    ) -> list[MinutePart]:
        """Minute parts for PostgreSQL: the closed minutes, and the open ones when the stream has
        been quiet for QUIET_FLUSH_S, every FLUSH_EVERY_S, or at the end (`final`)."""
        now = time.monotonic() if now is None else now
        out, self._closed = self._closed, []
        quiet = idle and now - self._active_at >= QUIET_FLUSH_S
        if final or quiet or now - self._flushed_at >= FLUSH_EVERY_S:
            self._flushed_at = now
            out += [p for t in self._trackers.values() if (p := t.take_minute()) is not None]
        return out
