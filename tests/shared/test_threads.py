"""The training thread count follows what the machine is doing now, not the load average, which
still counts work that has just ended (issue 17: an idle 2-core machine trained on one thread)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from shared.ml.runtime import busy_cores, choose_threads, cores

pytestmark = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs /proc/stat")


def _busy_when(condition_met, *, tries: int = 20) -> float:
    """Sample busy_cores until `condition_met(sample)`; the last sample either way."""
    sample = 0.0
    for _ in range(tries):
        sample = busy_cores() or 0.0
        if condition_met(sample):
            break
    return sample


def test_a_spinning_neighbour_counts_while_it_runs_and_not_after_it_ends() -> None:
    before = _busy_when(lambda s: s < cores() - 0.5)
    # Given a neighbour that keeps one core busy
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        # Then the sampled use rises by most of a core
        during = _busy_when(lambda s: s >= before + 0.7)
        assert during >= before + 0.7, (before, during)
    finally:
        spinner.kill()
        spinner.wait()
    # And once it has ended the reading falls back at once (the 1-minute load average would
    # still count it), so training takes the cores that are free again
    after = _busy_when(lambda s: s <= before + 0.3)
    assert after <= before + 0.3, (before, during, after)
    if after < 0.5:
        assert choose_threads(torch.device("cpu")) == cores()
