"""Torch code: the model zoo, loss, window batches, training engine and checkpoint loader.

Importing this package before torch makes OpenMP worker threads sleep instead of spin while
they wait (OMP_WAIT_POLICY=PASSIVE, unless already set). On a small machine shared with other
processes, spinning threads fight over the cores: measured on the 2-core box at load ≈ 5, a bf16
training step at batch 128 took 1-3 s with spinning threads and 0.3 s with passive ones.
OMP_PASSIVE records whether the policy is in force, so the engine can fall back to one thread
when torch was loaded first and the machine is busy.
"""

from __future__ import annotations

import os
import sys

if "torch" not in sys.modules:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
OMP_PASSIVE = os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
