"""`lob train` killed with SIGKILL mid-fold, then `lob train --resume`, finishes like an
uninterrupted run: same folds, same epochs, and no finished epoch trained twice."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.trainkit import make_dataset

ARGS = ["--span", "20", "--h", "10", "--epochs", "2", "--patience", "10", "--batch-size", "64"]


def lob_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "shared.cli.main", *args]


def metrics(run_dir: Path) -> list[tuple[int, int]]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        out.append((record["fold"], record["epoch"]))
    return out


def epochs_printed(stdout: str) -> list[tuple[int, int]]:
    """(fold, epoch) of every epoch line a run printed, in order."""
    fold, out = 0, []
    for m in re.finditer(r"^(?:Fold (\d)/5|Resuming fold (\d)|Epoch (\d+)/2 \|)", stdout, re.M):
        if m.group(1) or m.group(2):
            fold = int(m.group(1) or m.group(2))
        else:
            out.append((fold, int(m.group(3))))
    return out


def test_sigkill_mid_fold_then_resume(lob_home, run_lob):
    make_dataset("resumable", 450, seed=7)
    runs = lob_home / "runs"
    all_pairs = [(k, e) for k in range(1, 6) for e in range(1, 3)]

    # Given an uninterrupted run for reference
    done = run_lob("train", "--dataset", "resumable", *ARGS, "--run-id", "whole", check=True)
    assert metrics(runs / "whole") == all_pairs

    # When a second run is killed with SIGKILL once fold 2 has finished an epoch (mid-fold)
    proc = subprocess.Popen(
        lob_cmd("train", "--dataset", "resumable", *ARGS, "--run-id", "killed"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ},
    )
    deadline = time.monotonic() + 240
    while (2, 1) not in metrics(runs / "killed"):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no fold-2 epoch within 240 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    first_out = proc.communicate(timeout=30)[0]
    assert proc.returncode == -signal.SIGKILL
    before = metrics(runs / "killed")
    assert not (runs / "killed" / "manifest.json").exists()

    # And it is resumed
    resumed = run_lob("train", "--resume", "killed", check=True)

    # Then it finishes with the same folds and epochs as the uninterrupted run
    assert metrics(runs / "killed") == all_pairs
    a = json.loads((runs / "whole" / "result.json").read_text())
    b = json.loads((runs / "killed" / "result.json").read_text())
    assert [(f["fold"], f["epochs_run"]) for f in a["folds"]] == [
        (f["fold"], f["epochs_run"]) for f in b["folds"]
    ]
    assert (runs / "killed" / "manifest.json").is_file()
    # And no epoch finished before the kill ran again, beyond the one then in progress
    first = epochs_printed(first_out)
    second = epochs_printed(resumed.stdout)
    assert first and second
    assert set(first) | set(second) == set(all_pairs)
    repeated = set(first) & set(second)
    assert len(repeated) <= 1, repeated
    assert len(first) + len(second) <= len(all_pairs) + 1
    # It was killed within moments of fold 2's first metrics line: it resumes at fold 2 epoch 2,
    # or redoes epoch 1 if the kill came before that epoch's resume checkpoint was written.
    assert before[-1] == (2, 1)
    assert second[0] in {(2, 1), (2, 2)}
    assert second == all_pairs[all_pairs.index(second[0]) :]
    assert "DeepLOB (fold 5)" in done.stdout and "majority" in resumed.stdout
