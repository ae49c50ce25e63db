"""The promotion gate: a model is served only if it beats every baseline (shared/gate.py)."""

from __future__ import annotations

import pytest

from shared.gate import decide


def result(model: float, **baselines: float) -> dict:
    return {
        "model": {"f1_macro": model},
        "baselines": {name: {"f1_macro": f1} for name, f1 in baselines.items()},
    }


def test_a_model_that_beats_every_baseline_is_promoted() -> None:
    gate = decide(result(0.40, majority=0.24, gbm_book=0.39))
    assert gate.passed is True and gate.promote is True
    assert "beats every baseline" in gate.reason and "gbm_book 0.3900" in gate.reason


@pytest.mark.parametrize("tie", [0.41, 0.40])
def test_a_model_that_loses_or_ties_is_a_candidate_naming_who_wins(tie: float) -> None:
    gate = decide(result(0.40, majority=0.24, logistic_book=0.38, gbm_book=tie))
    assert gate.passed is False and gate.promote is False
    assert gate.reason.startswith("not promoted: does not beat gbm_book")
    assert "logistic_book" not in gate.reason.split("(")[0]


def test_the_policies_always_and_never() -> None:
    losing = result(0.30, gbm_book=0.35)
    always = decide(losing, "always")
    assert always.promote is True and always.passed is False and "promote=always" in always.reason
    never = decide(result(0.50, gbm_book=0.35), "never")
    assert never.promote is False and never.passed is True and "promote=never" in never.reason
    with pytest.raises(ValueError, match="unknown promote policy 'maybe'"):
        decide(losing, "maybe")


def test_no_baselines_means_no_verdict_and_no_automatic_promotion() -> None:
    gate = decide({"model": {"f1_macro": 0.5}})
    assert gate.passed is None and gate.promote is False and "no test scores" in gate.reason
    assert decide(None, "always").promote is True
