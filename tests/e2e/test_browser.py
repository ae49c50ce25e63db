"""The web UI in a real Chromium against a real running stack.

.venv/bin/pytest tests/e2e/test_browser.py -m browser -q

Starts, as subprocesses on free ports: an isolated redis-server, the gateway (serving the built UI
from services/web/dist), one Celery worker, the inference service and a replay feed of a small
synthetic dataset. Then, in Debian's Chromium (/usr/bin/chromium, headless, driven by Playwright
for Python): sign in with the API token, start a quick training job with the Train button, watch
it reach "succeeded", and see the new model serve live predictions on /predict, opened with no
symbol in the URL: it must pick the symbol inference serves (the fed one, not the idle dataset's
that sorts first, nor BTCUSDT). The run page's results (the model beside its baselines, the
backtest's equity curves, calibration and the promotion gate) are checked where the result holds
them. Then a challenger beside the champion on /predict, a drift banner, and the challenger
promoted from its card. Screenshots of both pages, of the run's results and of /predict with
the challenger and the drift banner, at 1280 and 390 px, go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from devstack.stack import Stack, wait_until
from shared.embedded import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "services" / "web" / "dist"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path(os.environ.get("LOB_CHROMIUM", "/usr/bin/chromium"))
# Flags for a quiet, sandbox-free headless Chromium in a container: no GPU, no background
# downloads or sync traffic that could slow the run or reach the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "web-e2e-token-4f1c9a"
DATASET = "e2e-eth"
# Not BTCUSDT, where /predict opened before it asked what inference serves.
SYMBOL = "ETHUSDT"
# A dataset nobody feeds, listed before DATASET: opening on the first dataset's symbol is wrong.
IDLE_DATASET, IDLE_SYMBOL = "a-idle", "AAAUSDT"
# Enough rows for a quick job (it uses the first 5,000) and a feed that keeps running.
ROWS = 20_000
# The job: quick (one epoch per fold) on the first TRAIN_ROWS rows; on a shared 2-core CPU the
# five folds and the test set take a minute or two.
TRAIN_ROWS = 2_000
TRAIN_TIMEOUT_S = 480
# The challenger test's runs: triple-barrier labels with a short horizon, so predictions resolve
# within seconds of the feed's pace; drift is judged over the last DRIFT_WINDOW of them.
LABELS = {"labels": "triple_barrier", "span": 20, "k": 1.0, "h": 10, "fee_bps": 1.0}
DRIFT_WINDOW = 50


@dataclass
class Web:
    """The running stack (devstack) and how the tests reach its gateway."""

    base: str
    home: Path
    dev: Stack

    def tail(self) -> str:
        return "".join(service.tail() for service in self.dev.services)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        resp = httpx.request(
            method,
            self.base + path,
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()


def _wait(cond: Callable[[], Any], timeout: float, what: str, stack: Web) -> Any:
    """Until `cond` holds; fails at once, with every service's last log lines, if one exits."""
    return wait_until(cond, timeout, what, services=stack.dev.services, every=0.25)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Web]:
    if not (DIST / "index.html").is_file():
        pytest.fail("services/web/dist is missing: build the UI first (make web)")
    from shared.data.store import write_dataset
    from shared.data.synth import synth_market

    root = tmp_path_factory.mktemp("web_e2e")
    home = root / "lob_home"
    home.mkdir()
    ts, features = synth_market(ROWS, seed=11, symbol=SYMBOL)
    write_dataset(DATASET, ts=ts, features=features, symbols=[SYMBOL], home=home)
    ts, features = synth_market(1_000, seed=12, symbol=IDLE_SYMBOL)
    write_dataset(IDLE_DATASET, ts=ts, features=features, symbols=[IDLE_SYMBOL], home=home)

    port, inference_port = free_port(), free_port()
    env = {
        "LOB_ENV": "development",
        "LOB_HOME": str(home),
        "DATABASE_URL": database_url,
        "LOB_API_TOKEN": TOKEN,
        "LOB_API_PORT": str(port),
        "LOB_INFERENCE_PORT": str(inference_port),
        "LOB_FLOWER_URL": "http://127.0.0.1:5555",
        "LOB_DRIFT_WINDOW": str(DRIFT_WINDOW),
    }
    with Stack(root, env, logs=root / "logs") as dev:
        # A Redis of our own: pub/sub channel names (lob:models, lob:predictions:<SYMBOL>) are
        # global to a server, so sharing the machine's Redis with other tests would mix their
        # messages in.
        dev.redis()
        gateway = dev.gateway(port, timeout=60)
        dev.worker("web-e2e", "--concurrency", "1", wait=False)
        dev.inference(inference_port, wait=False)
        dev.feed("replay", DATASET, "--loop", "--speed", "1")
        yield Web(base=gateway.url, home=home, dev=dev)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (set LOB_CHROMIUM to another)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _shot(page: Any, name: str, element: Any = None) -> Path:
    """The whole page, or only `element` (a Playwright locator) when given."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    clip = None
    if element is not None:
        # Cut the element out of a full-page shot taken from the top: a shot of the element
        # alone scrolls to it, and the sticky top bar then covers its first lines.
        page.evaluate("window.scrollTo(0, 0)")
        clip = element.bounding_box()
    page.screenshot(path=str(path), full_page=True, clip=clip)
    return path


def _expect_results(page: Any, result: dict[str, Any]) -> Any:
    """The run page's results card shows what `result` holds (older results lack the backtest,
    calibration and gate); returns the card."""
    from playwright.sync_api import expect

    card = page.get_by_role("region", name="Test-set results")
    table = card.get_by_role("table", name="Test-set metrics")
    expect(table).to_be_visible()
    expect(table).to_contain_text("Majority class")
    expect(card.get_by_label("Confusion matrix")).to_be_visible()
    if "backtest" in result:
        expect(table).to_contain_text("Net bps / trade")
        expect(table).to_contain_text("Gross bps / trade")
        legend = card.get_by_role("list", name="Equity legend")
        expect(legend).to_be_visible()
        expect(legend.get_by_role("listitem")).to_have_count(
            len(result["backtest"].get("entries") or {})
        )
    for name, scores in (result.get("baselines") or {}).items():
        if scores:
            expect(table.locator(f'tr[data-entry="{name}"]')).to_have_count(1)
    if "gate" in result:
        gate = card.get_by_test_id("gate-verdict")
        expect(gate).to_be_visible()
        expect(gate).to_contain_text(result["gate"]["reason"])
    if (result.get("model") or {}).get("calibration"):
        expect(card.get_by_test_id("log-loss")).to_be_visible()
        expect(card.get_by_role("img", name=re.compile("^Reliability diagram"))).to_be_visible()
    assert "NaN" not in card.inner_text()
    return card


def _fits_width(page: Any) -> bool:
    """No horizontal scrolling: the layout really reflows at this width."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _probabilities(page: Any) -> dict[str, float]:
    values = {}
    for key in ("up", "neutral", "down"):
        text = page.get_by_test_id(f"prob-{key}").inner_text()
        values[key] = float(text.rstrip("%")) / 100
    return values


def test_train_from_the_button_then_predict_live(stack: Web, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))

    # Given the Train page, signed out
    page.goto(f"{stack.base}/train")
    expect(page.get_by_role("heading", name="Training", exact=True)).to_be_visible()

    # When I sign in with the API token
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()

    # Then the session lives in an httpOnly cookie and nowhere the page's scripts can read
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "lob_session")
    assert cookie["httpOnly"] is True
    stored = page.evaluate(
        "JSON.stringify([{...localStorage}, {...sessionStorage}, document.cookie])"
    )
    assert TOKEN not in stored

    # When I start a quick training run from the Train button
    page.get_by_role("button", name="Train a model").click()
    page.get_by_label("Dataset").select_option(DATASET)
    page.get_by_label(re.compile("^Quick run")).check()
    # Advanced: fewer rows than a quick run's 5,000, to keep the test short on a small CPU.
    page.get_by_text("Advanced settings").click()
    page.get_by_label("Max rows").fill(str(TRAIN_ROWS))
    # Serve the model whatever its scores: this tiny run tests the machinery, not model quality,
    # and by default (if_better) a model that loses to a baseline stays a candidate.
    page.get_by_label("Promote the model", exact=True).select_option("always")
    page.get_by_role("button", name="Start training").click()

    # Then the run's live page opens and its progress reaches "succeeded"
    page.wait_for_url(re.compile(r"/train\?job="))
    job_id = page.url.split("job=")[1]
    detail = page.get_by_test_id("job-detail")
    expect(detail).to_be_visible()
    percents: set[int] = set()

    def succeeded() -> bool:
        status = detail.get_attribute("data-status") or ""
        percents.add(int(page.get_by_test_id("job-progress").inner_text().rstrip("%")))
        if status in ("failed", "cancelled"):
            raise AssertionError(
                f"job {job_id} ended {status}:\n{detail.inner_text()}\n{stack.tail()}"
            )
        return status == "succeeded"

    _wait(succeeded, TRAIN_TIMEOUT_S, f"job {job_id} to succeed", stack)
    expect(page.get_by_test_id("job-progress")).to_have_text("100%")
    # The bar moved through the run live (fold by fold), not only from 0 to 100 at the end.
    assert any(0 < p < 100 for p in percents), sorted(percents)
    expect(page.get_by_role("table", name="Test-set metrics")).to_be_visible()
    # Its fold-5 model was registered and promoted: the run page says it is serving.
    expect(detail.get_by_test_id("model-serving")).to_be_visible(timeout=30_000)
    job = stack.api("GET", f"/api/jobs/{job_id}")
    assert job["status"] == "succeeded"
    assert job["config"]["quick"] is True
    assert job["config"]["max_rows"] == TRAIN_ROWS
    assert job["config"]["promote"] == "always"
    results = _expect_results(page, job["result"] or {})
    _shot(page, "train-1280")
    _shot(page, "run-results-1280", results)

    # When I open /predict, with no symbol in the URL
    page.get_by_role("link", name="Predict").click()
    expect(page).to_have_url(re.compile(r"/predict$"))

    # Then it opens on the symbol inference serves, the replayed one
    expect(page.get_by_label("Symbol")).to_have_value(SYMBOL)
    # And the new model serves live predictions for it, and the bars move
    signal_word = page.get_by_test_id("signal")
    expect(signal_word).to_have_text(re.compile("^(UP|NEUTRAL|DOWN)$"), timeout=120_000)
    version = page.get_by_test_id("model-version")
    expect(version).not_to_have_text("Model –")
    first_seq = int(page.get_by_test_id("seq").inner_text())
    _wait(
        lambda: int(page.get_by_test_id("seq").inner_text()) > first_seq + 5,
        30,
        "the predictions to keep coming",
        stack,
    )
    probs = _probabilities(page)
    assert sum(probs.values()) == pytest.approx(1.0, abs=0.01)
    assert all(0 <= p <= 1 for p in probs.values())
    expect(page.get_by_role("meter", name="UP")).to_have_attribute(
        "aria-valuenow", re.compile(r"^\d+(\.\d)?$")
    )
    _shot(page, "predict-1280")
    assert not console_errors, console_errors

    # And both pages work at phone width (390 px), sharing the same signed-in session
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{stack.base}/predict")
    expect(phone.get_by_label("Symbol")).to_have_value(SYMBOL)
    expect(phone.get_by_test_id("signal")).to_have_text(
        re.compile("^(UP|NEUTRAL|DOWN)$"), timeout=60_000
    )
    assert _fits_width(phone)
    _shot(phone, "predict-390")
    phone.goto(f"{stack.base}/train?job={job_id}")
    expect(phone.get_by_test_id("job-detail")).to_have_attribute("data-status", "succeeded")
    results = _expect_results(phone, job["result"] or {})
    assert _fits_width(phone)
    _shot(phone, "train-390")
    _shot(phone, "run-results-390", results)
    context.close()


def test_sign_in_refuses_a_wrong_token(stack: Web, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{stack.base}/train")
    page.get_by_label("API token").fill("not-the-token")
    page.get_by_label("API token").press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert not [c for c in context.cookies() if c["name"] == "lob_session"]
    context.close()


def test_gateway_serves_the_app_at_each_route(stack: Web) -> None:
    for path in ("/", "/predict", "/train"):
        resp = httpx.get(stack.base + path, timeout=5, follow_redirects=True)
        assert resp.status_code == 200
        assert '<div id="root">' in resp.text
        assert json.dumps("DeepLOB Hub")[1:-1] in resp.text


def test_champion_beside_challenger_drift_then_promote_the_challenger(
    stack: Web, browser: Any, database_url: str
) -> None:
    """/predict with a challenger scored beside the champion and a real drift flag (the
    champion's recorded test F1 is far above what it does live), then the challenger promoted
    from its card. Screenshots at 1280 and 390 px."""
    from playwright.sync_api import expect
    from sqlalchemy.orm import Session

    from shared.data.store import open_dataset
    from shared.db import registry
    from shared.db.session import get_engine
    from tests.support import livekit

    # Given two registered runs scored on this market's labels: a champion whose test F1 of
    # 0.99 no live market can match, and a challenger
    books = np.asarray(open_dataset(DATASET, home=stack.home).features[:2_000])
    runs = [
        livekit.scored_run(
            stack.home, f"e2e-{name}", LABELS, books, torch_seed=k, theta=0.34, test_f1=f1
        )
        for k, (name, f1) in enumerate((("champion", 0.99), ("challenger", None)))
    ]
    with Session(get_engine(database_url)) as s:
        champion, challenger = (registry.register_run(s, run).id for run in runs)
        s.commit()
    stack.api("POST", f"/api/models/{champion}/promote")
    stack.api("POST", f"/api/models/{challenger}/shadow")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{stack.base}/train")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    # When /predict is open on the fed symbol
    page.goto(f"{stack.base}/predict?symbol={SYMBOL}")
    card = page.get_by_test_id("challenger-card")
    expect(card).to_be_visible(timeout=60_000)
    # Then both are scored live, side by side, and the champion's drift shows as a banner
    _wait(
        lambda: (
            page.get_by_test_id("duel-scored-challenger").inner_text().strip() not in ("", "0", "–")
        ),
        120,
        "the challenger's live figures",
        stack,
    )
    expect(page.get_by_test_id("live-degraded")).to_be_visible(timeout=120_000)
    assert "NaN" not in card.inner_text()
    _shot(page, "predict-challenger-drift-1280")
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{stack.base}/predict?symbol={SYMBOL}")
    expect(phone.get_by_test_id("challenger-card")).to_be_visible(timeout=60_000)
    expect(phone.get_by_test_id("live-degraded")).to_be_visible(timeout=60_000)
    assert _fits_width(phone)
    _shot(phone, "predict-challenger-drift-390")

    # When the challenger is promoted from its card
    card.get_by_role("button", name="Promote challenger").click()
    page.get_by_role("button", name="Confirm promotion").click()
    # Then the challenger serves: the page's model is its version, and the old champion is
    # the challenger now
    want = f"{runs[1].name}/fold5"
    expect(page.get_by_test_id("model-version")).to_have_attribute("title", want, timeout=60_000)
    active = stack.api("GET", "/api/models/active")
    assert (active["model"]["id"], active["shadow"]["id"]) == (challenger, champion)

    # And the two runs compare side by side, at both widths (the table scrolls in its card)
    for view in (page, phone):
        view.goto(f"{stack.base}/train/compare?jobs={runs[0].name},{runs[1].name}")
        table = view.get_by_role("table", name="Run comparison")
        expect(table).to_be_visible()
        expect(table.locator('tr[data-row="model"]')).to_contain_text("DeepLOB")
        expect(table.locator('tr[data-row="f1"]')).to_be_visible()
        assert "NaN" not in table.inner_text()
        assert _fits_width(view)
    _shot(page, "compare-1280", page.get_by_test_id("compare-view"))
    _shot(phone, "compare-390", phone.get_by_test_id("compare-view"))
    context.close()
