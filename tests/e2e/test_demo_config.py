"""The first-run demo's dataset and job settings give a test block that holds every class
(issue 12, item 7: the quick job used to score on a test set with no UP row at all)."""

from __future__ import annotations

from pathlib import Path

from devstack.up import DEMO_DATASET, DEMO_JOB, DEMO_ROWS, write_demo_dataset
from shared.labels import CLASS_NAMES
from shared.ml.prepare import prepare
from shared.train_config import TrainConfig


def test_the_demo_job_scores_on_a_test_block_with_all_three_classes(lob_home: Path) -> None:
    # Given the demo dataset exactly as lob up writes it, and the job lob up submits
    write_demo_dataset(lob_home, DEMO_ROWS)
    cfg = TrainConfig(**DEMO_JOB)
    # When it is labelled and split as training will
    prep = prepare(cfg, DEMO_DATASET)
    test = prep.labels[prep.split.test]
    # Then the test block holds at least 10 % of each class, and so does every validation block
    for name, rows in [("test", test)] + [
        (f"fold {f.k} val", prep.labels[f.val]) for f in prep.split.folds
    ]:
        shares = {c: float((rows == i).mean()) for i, c in enumerate(CLASS_NAMES)}
        assert min(shares.values()) >= 0.10, (name, shares)
    assert cfg.norm == "mid_bps", "the synthetic mid leaves its training range: level-free inputs"
