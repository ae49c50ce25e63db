"""Faults on the live path: inference SIGKILLed at random moments, 100 bad checkpoints published
while the stream runs, a restart right after a burst of snapshots, and a Redis restart while the
gateway's relay re-subscribes.

A real feed (`lob feed replay`), the inference service as production starts it, the gateway and
a WebSocket subscriber; every prediction carries its per-symbol seq, so a gap or a duplicate shows.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from devstack import seed
from devstack.stack import Service, wait_until
from shared.data.schema import WINDOW
from tests.support import livekit
from tests.support.relkit import (
    RelStack,
    Subscriber,
    duplicates,
    gaps,
    is_prediction,
    record_figure,
    seconds,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SERVING = "run-good/fold5"


def _kill_inference(stack: RelStack) -> float:
    stack.inference.proc.send_signal(signal.SIGKILL)
    stack.inference.proc.wait(10)
    return time.monotonic()


def _stop_feed(proc: Service) -> int:
    """Stop a replay feed (SIGTERM) and return how many snapshots it sent."""
    proc.stop()
    match = re.search(r"replayed (\d+) snapshots", proc.output())
    assert match, proc.output()[-2000:]
    return int(match.group(1))


def test_inference_sigkilled_at_random_moments_resumes_from_its_consumer_group(
    stack: RelStack,
) -> None:
    rng = random.Random(5)
    symbol, kills = "IKILL", 3
    sub = Subscriber(stack.ws_url("model-test-ikill"), [{"subscribe": [symbol]}])
    src = stack.feed("replay", symbol, speed=3)  # 30 snapshots/s
    recovery: list[float] = []
    try:
        for k in range(kills):
            # Given predictions flowing
            have = len(sub.predictions(symbol))
            wait_until(lambda h=have: len(sub.predictions(symbol)) >= h + 60, 60, "predictions")
            time.sleep(rng.uniform(0.0, 1.0))
            # When inference is SIGKILLed and started again
            killed = _kill_inference(stack)
            stack.inference.restart()
            # Then predictions resume
            got = wait_until(
                lambda t=killed: sub.first_after(t, is_prediction(symbol)), 30, f"resume {k + 1}"
            )
            recovery.append(got.t - killed)
        sent = _stop_feed(src)
        wait_until(lambda: len(sub.predictions(symbol)) >= sent, 30, "the last predictions")
        time.sleep(0.5)
    finally:
        src.stop()
        sub.close()
    msgs = [g.msg for g in sub.predictions(symbol)]
    seqs = [m["seq"] for m in msgs]
    # every snapshot was published exactly once, in order, and windows never warmed up again
    assert len(msgs) == sent
    assert seqs == list(range(1, sent + 1))
    stamps = [m["ts"] for m in msgs]
    assert stamps == sorted(set(stamps))
    assert all(m["status"] == "ok" for m in msgs[WINDOW - 1 :])
    assert sub.close_code is None
    record_figure(
        "inference_sigkill",
        kind="fault",
        what="Inference SIGKILL mid-stream",
        done=f"{kills} SIGKILLs at random moments while a feed replays 30 snapshots/s; restart "
        "with the same consumer name",
        times=kills,
        lost=f"nothing: {sent} snapshots in, {len(msgs)} predictions out, seq 1..{sent} without "
        f"gap or duplicate ({gaps(seqs)} gaps, {duplicates(seqs)} duplicates); no re-warm-up",
        recovery=f"{seconds(recovery)} (kill -> next prediction at the client, incl. restart)",
        data={"recovery_s": recovery, "snapshots": sent, "predictions": len(msgs)},
    )


# -- 100 bad checkpoints ---------------------------------------------------------------------------


def _wrong_keys(home: Path, run_id: str) -> Path:
    import torch

    from shared.rundir import RunDir

    run_dir = seed.servable_run(home, run_id, seed=9)
    path = RunDir(run_dir).fold(5).weights
    state = torch.load(path, weights_only=True)
    state["fc.weight"] = state.pop("fc1.weight")  # a renamed layer: strict loading must refuse
    torch.save(state, path)
    RunDir(run_dir).write_manifest()
    return run_dir


def _bad_runs(home: Path, marker: Path, count: int) -> list[tuple[str, Path]]:
    """`count` broken runs, cycling through the kinds; truncation points vary."""
    from shared.rundir import RunDir

    kinds = ["truncated", "wrong_keys", "nan_weights", "hash_mismatch", "pickle_payload"]
    templates = {
        k: _wrong_keys(home, f"tpl-{k}")
        if k == "wrong_keys"
        else livekit.make_bad_run(home, f"tpl-{k}", k, marker)
        for k in kinds
    }
    rng = np.random.default_rng(100)
    runs = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        run_dir = home / "runs" / f"bad-{i:03d}-{kind}"
        shutil.copytree(templates[kind], run_dir)
        if kind == "truncated":
            path = RunDir(run_dir).fold(5).weights
            full = (templates["nan_weights"] / path.relative_to(run_dir)).read_bytes()
            path.write_bytes(full[: int(rng.integers(1, len(full) - 1))])
            RunDir(
                run_dir
            ).write_manifest()  # the manifest matches the broken file: only loading tells
        runs.append((kind, run_dir))
    return runs


def _refused_paths(log: str) -> set[str]:
    return set(re.findall(r"refused model (\S+): ", log))


def test_one_hundred_bad_checkpoints_while_streaming_none_served_nothing_lost(
    stack: RelStack,
) -> None:
    symbol, count = "HOTBAD", 100
    marker = stack.base / "pickle-payload-ran"
    runs = _bad_runs(stack.home, marker, count)
    log_from = len(stack.inference.output())
    sub = Subscriber(stack.ws_url("model-test-hotbad"), [{"subscribe": [symbol]}])
    src = stack.feed("replay", symbol, speed=3)
    try:
        wait_until(lambda: len(sub.predictions(symbol)) >= WINDOW + 20, 60, "a warm window")
        # When 100 broken checkpoints are promoted one after another (pointer file + lob:models)
        started = time.monotonic()
        for n, (_, run_dir) in enumerate(runs, start=1):
            seed.point_active(stack.home, run_dir, 1000 + n, redis_url=stack.redis.url)
            time.sleep(0.02)
        paths = {str(r) for _, r in runs}
        wait_until(
            lambda: paths <= _refused_paths(stack.inference.output()[log_from:]),
            120,
            "every bad checkpoint to be refused",
            every=0.25,
        )
        refused_in = time.monotonic() - started
        time.sleep(1.0)
        sent = _stop_feed(src)
        wait_until(lambda: len(sub.predictions(symbol)) >= sent, 30, "the last predictions")
        time.sleep(0.5)
    finally:
        src.stop()
        sub.close()
        seed.point_active(stack.home, stack.good_run, 1, redis_url=stack.redis.url)
    msgs = [g.msg for g in sub.predictions(symbol)]
    seqs = [m["seq"] for m in msgs]
    status = stack.inference_status()
    # Then none was served: every prediction came from the good model, which still serves
    assert {m["model_version"] for m in msgs if m["status"] == "ok"} == {SERVING}
    assert status["model_version"] == SERVING
    assert status["refused_total"] >= count
    # and no prediction was lost or doubled meanwhile
    assert seqs == list(range(1, sent + 1))
    # and the pickle payload never ran, in any of the 20 attempts
    assert not marker.exists()
    times = [b.t - a.t for a, b in itertools.pairwise(sub.predictions(symbol))]
    reasons = {r["reason"] for r in status["refused"]}
    record_figure(
        "hot_reload_bad",
        kind="fault",
        what="Hot reload of bad checkpoints",
        done=f"{count} broken checkpoints promoted 20 ms apart while streaming (20 each: "
        "truncated at random points, renamed keys, NaN weights, sha256 mismatch, pickle payload)",
        times=count,
        lost=f"nothing: 0 served, {sent} snapshots -> {len(msgs)} predictions, seq without gap "
        "or duplicate; pickle payload never ran",
        recovery=f"never stopped serving; all {count} refused within {refused_in:.1f} s; largest "
        f"gap between two predictions {max(times) * 1e3:.0f} ms",
        data={
            "refused_in_s": refused_in,
            "refused_total": status["refused_total"],
            "max_gap_ms": max(times) * 1e3,
            "sample_reasons": sorted(reasons)[:5],
        },
    )


# -- restart right after a burst -------------------------------------------------------------------


def test_a_restart_after_a_burst_restores_every_window_exactly(stack: RelStack) -> None:
    """Two symbols' last entries share a millisecond, seq 9 and seq 10 of it. After a restart the
    windows are rebuilt from the stream; each must end at its symbol's last published row.
    """
    from shared.events import SNAPSHOT_STREAM
    from shared.feed.snapshot import encode
    from shared.ml.checkpoint import load_serving_model

    rows = 130
    rng = np.random.default_rng(3)
    books = {}
    for sym in ("BURSTA", "BURSTB"):
        mid = 100 + 0.01 * np.cumsum(rng.choice([-1, 0, 1], size=rows))
        b = np.empty((rows, 40))
        b[:, 0::4] = mid[:, None] + 0.01 * np.arange(1, 11)
        b[:, 2::4] = mid[:, None] - 0.01 * np.arange(10)
        b[:, 1::4] = rng.uniform(1, 5, (rows, 10))
        b[:, 3::4] = rng.uniform(1, 5, (rows, 10))
        books[sym] = b
    sub = Subscriber(stack.ws_url("model-test-burst"), [{"subscribe": ["BURSTA", "BURSTB"]}])
    r = redis.Redis.from_url(stack.redis.url)
    try:
        # Given entries with explicit ids: A and B alternate, then one millisecond holds ten A
        # rows (seq 0-9) and B's last row (seq 10); B keeps one row for after the restart.
        top = r.xinfo_stream(SNAPSHOT_STREAM)["last-generated-id"].decode()
        t0 = max(int(top.split("-")[0]), time.time_ns() // 10**6) + 1_000
        pipe = r.pipeline(transaction=False)

        def add(entry_id: str, sym: str, i: int) -> None:
            fields = encode(1_700_000_000 * 10**9 + i, sym, books[sym][i], sent_ns=time.time_ns())
            pipe.xadd(SNAPSHOT_STREAM, fields, id=entry_id)  # type: ignore[arg-type]

        a_rows = rows - 11
        books["BURSTB"][a_rows] *= 3  # B's last row before the restart stands out
        for i in range(a_rows):
            add(f"{t0 + i}-0", "BURSTA", i)
            add(f"{t0 + i}-1", "BURSTB", i)
        burst = t0 + a_rows + 10
        for j in range(10):
            add(f"{burst}-{j}", "BURSTA", a_rows + j)
        add(f"{burst}-10", "BURSTB", a_rows)
        pipe.execute()
        b_last = a_rows  # index of B's last row so far
        wait_until(
            lambda: (
                len(sub.predictions("BURSTB")) >= b_last + 1
                and len(sub.predictions("BURSTA")) >= a_rows + 10
            ),
            30,
            "every burst entry predicted",
        )
        # When inference restarts, and B's next row arrives
        _kill_inference(stack)
        stack.inference.restart()
        pipe = r.pipeline(transaction=False)
        add(f"{burst + 1}-0", "BURSTB", b_last + 1)
        pipe.execute()
        wait_until(lambda: len(sub.predictions("BURSTB")) >= b_last + 2, 30, "B's next prediction")
    finally:
        sub.close()
        r.close()
    # Then that prediction is the model's output on B's true last 100 rows. (The random-weight
    # model barely depends on its input: a one-row shift moves it by ~2e-5, float32 noise ~1e-7.)
    serving = load_serving_model(stack.good_run)
    B = books["BURSTB"]
    last = sub.predictions("BURSTB")[-1].msg
    assert last["seq"] == b_last + 2
    got = np.array([last["probs"][k] for k in ("down", "neutral", "up")])
    want = serving.predict_proba(B[b_last + 2 - WINDOW : b_last + 2])[0]
    missing_last = serving.predict_proba(
        np.concatenate([B[b_last + 1 - WINDOW : b_last], B[b_last + 1 : b_last + 2]])
    )[0]
    before = sub.predictions("BURSTB")[-2].msg  # before the restart it matched
    got_before = np.array([before["probs"][k] for k in ("down", "neutral", "up")])
    want_before = serving.predict_proba(B[b_last + 1 - WINDOW : b_last + 1])[0]
    assert np.abs(got_before - want_before).max() < 2e-6
    assert np.abs(got - want).max() < 2e-6, (
        f"after the restart B's window is not its last {WINDOW} rows: off by "
        f"{np.abs(got - want).max():.1e}; off by {np.abs(got - missing_last).max():.1e} from a "
        "window that lacks B's last row before the restart"
    )


# -- Redis restart while the relay re-subscribes ---------------------------------------------------


def _stream_seq(r: redis.Redis, symbol: str) -> int:
    """The seq of the newest prediction in the symbol's stream (0 while it is empty)."""
    from shared.events import PREDICTIONS_STREAM_FIELD, predictions_stream

    rows = r.xrevrange(predictions_stream(symbol), count=1)
    return json.loads(rows[0][1][PREDICTIONS_STREAM_FIELD.encode()])["seq"] if rows else 0


def test_predictions_published_while_the_relay_resubscribes_after_a_redis_restart_all_arrive(
    stack: RelStack,
) -> None:
    """Redis comes back empty. Inference, which keeps its windows and seq, reconnects and publishes
    while the relay is still away: its backoff (up to 2 s) opens that window by itself; holding the
    gateway (SIGSTOP) until inference has published `held` predictions makes it certain. Pub/sub
    keeps none of those for the relay: it must read them back from the symbol's stream.
    """
    symbol, held = "RESUBGAP", 20
    sub = Subscriber(stack.ws_url("model-test-resubgap"), [{"subscribe": [symbol]}])
    src = stack.feed("replay", symbol, speed=3)  # 30 snapshots/s
    r = redis.Redis.from_url(stack.redis.url)
    try:
        # Given predictions flowing
        wait_until(lambda: len(sub.predictions(symbol)) >= 60, 60, "predictions")
        # When Redis dies and comes back empty while the gateway is held, and inference publishes
        # `held` predictions into the new Redis before the relay can subscribe again
        stack.gateway.signal(signal.SIGSTOP)
        try:
            stack.redis.kill()
            stack.redis.start().wait_healthy()
            first = wait_until(lambda: _stream_seq(r, symbol), 30, "a prediction in the new Redis")
            wait_until(
                lambda: _stream_seq(r, symbol) >= first + held, 30, f"{held} more predictions"
            )
        finally:
            stack.gateway.signal(signal.SIGCONT)
        resumed, away = time.monotonic(), _stream_seq(r, symbol)
        # Then the client gets everything inference publishes, up to its last one
        wait_until(
            lambda: sub.predictions(symbol)[-1].msg["seq"] >= away + 30,
            30,
            "live predictions again",
        )
        src.stop()
        wait_until(
            lambda: sub.predictions(symbol)[-1].msg["seq"] == _stream_seq(r, symbol),
            30,
            "the last prediction at the client",
        )
    finally:
        src.stop()
        sub.close()
        r.close()
    got = sub.predictions(symbol)
    seqs = [g.msg["seq"] for g in got]
    caught_up = next(g.t for g in got if g.msg["seq"] >= away) - resumed
    contiguous = seqs == list(range(seqs[0], seqs[-1] + 1))
    missing, doubled = gaps(seqs), duplicates(seqs)
    record_figure(
        "relay_resubscribe",
        kind="fault",
        what="Redis restart while the gateway's relay re-subscribes",
        done=f"redis-server killed and back empty with the gateway held (SIGSTOP) until inference "
        f"had published {held} predictions into it, while a feed replays 30 snapshots/s",
        times=1,
        lost=f"{'nothing' if contiguous else 'predictions'}: seq {seqs[0]}..{seqs[-1]} at the "
        f"client, {missing} missing, {doubled} doubled (what the relay missed is read "
        "back from lob:predictions:stream:<SYMBOL>)",
        recovery=f"{caught_up:.2f} s from the gateway's resume until the client had every "
        "prediction published while the relay was away",
        data={"caught_up_s": caught_up, "missing": missing, "doubled": doubled},
        passed=contiguous,
    )
    assert sub.close_code is None, "the client kept its socket"
    assert contiguous, f"{missing} missing, {doubled} doubled in seq across the restart"
