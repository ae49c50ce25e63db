"""How far the model's probabilities can be trusted, on the test rows.

- log_loss: scikit-learn's, over the three classes;
- brier: the multi-class Brier score, mean over samples of sum over classes of (p - onehot)^2
  (0 is perfect, 2 the worst; always guessing the class shares gives 1 - sum of squared shares);
- reliability: a top-label reliability diagram: the predicted class's probability in 10 equal
  bins, each with how many samples fell in it, their mean confidence and how often the predicted
  class was right. A calibrated model's accuracy equals its confidence in every bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import log_loss

CLASSES = 3


def calibration(probs: np.ndarray, y: np.ndarray, bins: int = 10) -> dict[str, Any]:
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    y = np.asarray(y, dtype=np.int64)
    onehot = np.eye(CLASSES)[y]
    conf = p.max(1)
    right = p.argmax(1) == y
    # Bin b holds confidences in [b/bins, (b+1)/bins); 1.0 goes in the last bin.
    which = np.minimum((conf * bins).astype(np.int64), bins - 1)
    diagram = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        diagram.append(
            {
                "lo": b / bins,
                "hi": (b + 1) / bins,
                "count": count,
                "confidence": float(conf[mask].mean()) if count else None,
                "accuracy": float(right[mask].mean()) if count else None,
            }
        )
    return {
        "log_loss": float(log_loss(y, p, labels=list(range(CLASSES)))),
        "brier": float(((p - onehot) ** 2).sum(1).mean()),
        "reliability": diagram,
    }
