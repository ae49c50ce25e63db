"""Every zoo model serves live: promoted, verified by the hot reload (its TorchScript serving path
against eager), and its predictions on the real live path (replay -> Redis -> inference ->
gateway -> WebSocket) are the eager model's, offline, on the same windows."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from devstack import seed
from shared.data.schema import WINDOW
from tests.support import livekit
from tests.support.livekit import LiveStack

pytestmark = pytest.mark.slow

ROWS = 300


@pytest.fixture(scope="module", autouse=True)
def stack_model_after(live_stack: LiveStack) -> Iterator[None]:
    yield
    livekit.serve(live_stack, live_stack.good_run, 1)


@pytest.mark.parametrize("model", ["tlob", "mlplob", "binctabl"])
def test_each_zoo_model_serves_live_as_its_eager_model_predicts(
    live_stack: LiveStack, model: str
) -> None:
    # given a servable run of the model, promoted
    home = live_stack.home
    symbol = f"ZOO{model.upper()}"
    books = seed.dataset(home, f"zoo-{model}", ROWS, seed=4, symbol=symbol)
    run = seed.servable_run(home, f"run-{model}", seed=5, model=model)
    livekit.serve(live_stack, run, 20)
    want = livekit.offline_probs(run, books)  # the window ending at row 99 + i

    # when its market is replayed
    got = livekit.replay(
        live_stack, f"zoo-{model}", symbol, lambda g: len(g.seqs(symbol)) >= ROWS, timeout=60
    )
    # then every snapshot got a prediction from this model, equal to the eager model's
    assert got.seqs(symbol) == list(range(1, ROWS + 1))
    ok = [p for p in got.predictions if p["status"] == "ok"]
    assert len(ok) == ROWS - (WINDOW - 1)
    assert {p["model_version"] for p in ok} == {f"{run.name}/fold5"}
    probs = np.array([[p["probs"]["down"], p["probs"]["neutral"], p["probs"]["up"]] for p in ok])
    np.testing.assert_allclose(probs, want, atol=1e-5)
