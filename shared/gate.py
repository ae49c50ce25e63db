"""The promotion gate: a finished job's model is served only if it beats every baseline.

A job's `promote` setting picks the policy:
- `if_better` (default): promote only when the model's test macro F1 beats every baseline's in
  result.json (fitted on the same training rows, scored on the same test rows);
- `always`: promote, but still record whether it passed;
- `never`: register only.

A model that is not promoted stays a registered candidate, with the reason, in `lob models list`,
GET /api/models and the UI; a person can still promote it by hand. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Policy = Literal["if_better", "always", "never"]
POLICIES: tuple[str, ...] = ("if_better", "always", "never")
METRIC = "f1_macro"


@dataclass(frozen=True)
class Gate:
    passed: bool | None  # None: the result holds no baseline to compare with
    promote: bool
    reason: str


def _f1(scores: Any) -> float | None:
    value = scores.get(METRIC) if isinstance(scores, dict) else None
    return float(value) if isinstance(value, int | float) else None


def verdict(result: dict[str, Any] | None) -> tuple[bool | None, str]:
    """Whether the model beats every baseline of `result` on test macro F1, and in words."""
    result = result or {}
    model = _f1(result.get("model"))
    baselines = {
        name: f1
        for name, scores in (result.get("baselines") or {}).items()
        if (f1 := _f1(scores)) is not None
    }
    if model is None or not baselines:
        passed, verdict = None, "no test scores to compare with baselines"
    else:
        best, best_f1 = max(baselines.items(), key=lambda kv: kv[1])
        losers = [n for n, f1 in baselines.items() if model <= f1]
        passed = not losers
        if passed:
            verdict = (
                f"beats every baseline on test macro F1 ({model:.4f}; best baseline "
                f"{best} {best_f1:.4f})"
            )
        else:
            verdict = (
                f"does not beat {', '.join(sorted(losers))} on test macro F1 ({model:.4f} vs "
                f"{best} {best_f1:.4f})"
            )
    return passed, verdict


def decide(result: dict[str, Any] | None, policy: str = "if_better") -> Gate:
    """Compare the model with every baseline of `result` and apply `policy`."""
    if policy not in POLICIES:
        raise ValueError(f"unknown promote policy {policy!r}; use one of {', '.join(POLICIES)}")
    passed, verdict_ = verdict(result)
    if policy == "never":
        return Gate(passed, False, f"not promoted (promote=never); {verdict_}")
    if policy == "always":
        return Gate(passed, True, f"promoted (promote=always); {verdict_}")
    if passed is None:
        return Gate(None, False, f"not promoted: {verdict_}")
    return Gate(passed, passed, verdict_ if passed else f"not promoted: {verdict_}")
