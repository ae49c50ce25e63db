"""The live scorer on its own (no processes): what is scored under which model version, minute
parts, and models that cannot be scored. The live path itself is tests/inference/test_live_scores.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from services.inference.history import ScoreHistory
from services.inference.scoring import LiveScorer
from services.inference.status import Metrics
from shared.events import LiveScoresReport, Prediction, Probabilities
from shared.feed.snapshot import Snapshot
from shared.labels import CLASS_NAMES, make_labels
from shared.ml.metrics import confusion
from shared.train_config import TrainConfig

SETTINGS = {"labels": "smoothed", "smooth_k": 3, "alpha": 0.0}
T0 = 1_700_000_000 * 10**9


def run_dir(tmp_path: Path, name: str, settings: dict | None) -> Path:
    path = tmp_path / name
    path.mkdir()
    if settings is not None:
        (path / "config.json").write_text(json.dumps({"settings": settings}))
        result = {"model": {"f1_macro": 0.5}, "backtest": {"entries": {"model": {"theta": 0.4}}}}
        (path / "result.json").write_text(json.dumps(result))
    return path


def feed(scorer: LiveScorer, books: np.ndarray, classes: np.ndarray, version: str, start: int):
    """Rows start.. of `books`, each predicted as `classes[row]` (one-hot) by `version`."""
    for row in range(start, len(classes)):
        snap = Snapshot(ts=T0 + row * 10**9, symbol="UNIT", book=books[row].astype(np.float64))
        p = np.eye(3)[classes[row]] * 0.8 + 0.2 / 3
        pred = Prediction(
            ts=snap.ts,
            symbol="UNIT",
            best_bid=snap.best_bid,
            best_ask=snap.best_ask,
            mid=snap.mid,
            latency_ms=0.0,
            seq=row + 1,
            model_version=version,
            probs=Probabilities(down=p[0], neutral=p[1], up=p[2]),
            signal=CLASS_NAMES[classes[row]],  # type: ignore[arg-type]
            confidence=float(p.max()),
        )
        assert scorer.observe(snap, pred) == []  # no test F1 window full: no drift news


def books_and_classes(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    books = np.zeros((rows, 40), dtype=np.float32)
    bid = 10_000 + np.cumsum(rng.integers(-1, 2, rows))
    books[:, 0], books[:, 2] = (bid + 1) * 0.01, bid * 0.01
    return books, rng.integers(0, 3, rows)


def test_predictions_resolve_under_the_version_that_made_them(tmp_path: Path) -> None:
    # given two runs with the same label settings, the second swapped in at row 120
    books, classes = books_and_classes(240)
    scorer = LiveScorer(metrics=Metrics(), drift_window=1000, drift_margin=0.1)
    scorer.set_model("a/fold5", run_dir(tmp_path, "a", SETTINGS))
    feed(scorer, books[:120], classes[:120], "a/fold5", 0)
    scorer.set_model("b/fold5", run_dir(tmp_path, "b", SETTINGS))
    feed(scorer, books, classes, "b/fold5", 120)
    # then rows 0..119 count for a (the last three resolved after the swap), 120..236 for b,
    # each against the offline label of its row
    labels = make_labels(books, TrainConfig(**SETTINGS))
    report = LiveScoresReport.model_validate_json(scorer.report(now=1e9) or "")
    got = {s.model_version: s.since_load.confusion for s in report.scores}
    assert got == {
        "a/fold5": confusion(labels[:120], classes[:120]).tolist(),
        "b/fold5": confusion(labels[120:237], classes[120:237]).tolist(),
    }
    # and the minute parts (one row a second: four minutes) add up to the same counts
    parts = scorer.minutes(idle=False, final=True)
    for version, want in got.items():
        mine = [p for p in parts if p.model_version == version]
        assert np.sum([p.confusion for p in mine], axis=0).tolist() == want
        assert len({p.minute for p in mine}) == len(mine)


def test_a_model_without_label_settings_is_served_but_not_scored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    books, classes = books_and_classes(50)
    scorer = LiveScorer(metrics=Metrics(), drift_window=10, drift_margin=0.1)
    with caplog.at_level(logging.WARNING, "lob.inference"):
        scorer.set_model("old/fold5", run_dir(tmp_path, "old", None))
    assert "not scored live" in caplog.text
    feed(scorer, books, classes, "old/fold5", 0)
    assert LiveScoresReport.model_validate_json(scorer.report() or "").scores == []
    assert scorer.due() == [] and scorer.minutes(idle=True, final=True) == []


def test_without_database_url_no_history_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, "lob.inference"):
        history = ScoreHistory(None)
    assert "history is not kept" in caplog.text
    history.submit([])
    history.close([])  # nothing to wait for
