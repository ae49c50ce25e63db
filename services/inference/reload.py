"""Hot reload: watch `lob:models` and `$LOB_HOME/models/active.json`, verify, hand over.

Two triggers so a promotion is never missed: the pub/sub message (instant, but lost while Redis or
this process is down) and polling the active pointer file (always eventually right). Both feed one
loader thread, which verifies a candidate completely off the serving path:

  1. shared.ml.checkpoint.load_serving_model: manifest sha256 of every file, torch.load with
     weights_only=True (a pickle payload is never executed), strict state_dict keys and shapes,
     a finite test forward pass;
  2. the incremental fast path is built and must agree with plain eager on sliding windows.

Only then does the candidate become `pending`; the serving loop swaps it in between two rounds
of predictions. A refused candidate is logged, counted and listed in the status; the old model
keeps serving.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from pathlib import Path

import redis
from pydantic import ValidationError

from services.inference.predictor import LoadedModel
from services.inference.status import Metrics, StatusBoard
from shared.errors import BadCheckpoint
from shared.events import MODELS_CHANNEL, ModelPromoted, parse_models_message
from shared.ml.checkpoint import load_serving_model
from shared.ml.fastpath import FastDeepLOB, verify_against_eager
from shared.rundir import ModelStore, RunDir

log = logging.getLogger("lob.inference")

EAGER_TOLERANCE = 1e-4  # max |fast - eager| probability; float32 reorderings stay near 1e-7
POLL_S = 1.0
Candidate = tuple[ModelPromoted, Path, str]  # the promotion, its run dir, where it came from
SEEN_KEPT = 256  # promotions remembered, so one announced twice is tried once


class ModelWatcher:
    def __init__(
        self,
        *,
        home: Path,
        redis_url: str,
        metrics: Metrics,
        board: StatusBoard,
        poll_s: float = POLL_S,
    ) -> None:
        self.home = home
        self.redis_url = redis_url
        self.metrics = metrics
        self.board = board
        self.poll_s = poll_s
        self._requests: queue.Queue[Candidate] = queue.Queue()
        self._pending: LoadedModel | None = None
        self._lock = threading.Lock()
        self._serving_fingerprint: tuple[object, ...] | None = None
        self._seen: deque[str] = deque(maxlen=SEEN_KEPT)
        self._pointer_seen: tuple[int, int, bytes] | None = None
        self._stop = threading.Event()

    # -- the serving loop's side -----------------------------------------------------------------

    def take(self) -> LoadedModel | None:
        with self._lock:
            model, self._pending = self._pending, None
        if model is not None:
            self._serving_fingerprint = model.fingerprint
        return model

    def load_initial(self) -> None:
        """Verify the active model synchronously at start-up; `take()` then returns it."""
        self._poll_pointer()
        try:
            candidate = self._requests.get_nowait()
        except queue.Empty:
            return
        loaded = self._attempt(*candidate)
        if loaded is not None:
            with self._lock:
                self._pending = loaded

    def start(self) -> None:
        for target, name in (
            (self._load_loop, "model-loader"),
            (self._listen_loop, "model-listener"),
            (self._poll_loop, "model-poller"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    # -- triggers --------------------------------------------------------------------------------

    def request(self, message: ModelPromoted, source: str) -> None:
        path = Path(message.path)
        if not path.is_absolute():
            path = self.home / path
        self._requests.put((message, path, source))

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._poll_pointer()

    def _poll_pointer(self) -> None:
        pointer = ModelStore(self.home).active_path
        try:
            st = pointer.stat()
            seen = (st.st_mtime_ns, st.st_size, pointer.read_bytes())
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read %s: %s", pointer, exc)
            return
        if seen == self._pointer_seen:
            return
        self._pointer_seen = seen
        try:
            message = ModelPromoted.model_validate_json(seen[2])
        except ValidationError as exc:
            self._refuse(str(pointer), f"unreadable active pointer: {_first_error(exc)}")
            return
        self.request(message, "active.json")

    def _listen_loop(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            client = redis.Redis.from_url(
                self.redis_url, socket_connect_timeout=2, health_check_interval=10
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(MODELS_CHANNEL)
                attempt = 0
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is None:
                        pubsub.ping()  # notices a dead connection even when nothing is promoted
                        continue
                    if msg["type"] != "message":
                        continue
                    try:
                        message = parse_models_message(msg["data"])
                    except ValidationError as exc:
                        self._refuse(MODELS_CHANNEL, f"unreadable message: {_first_error(exc)}")
                        continue
                    if isinstance(message, ModelPromoted):  # not ModelDegraded: our own news
                        self.request(message, MODELS_CHANNEL)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                attempt += 1
                self._stop.wait(min(2.0, 0.1 * 2**attempt))
            finally:
                pubsub.close()
                client.close()

    # -- loading ---------------------------------------------------------------------------------

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            try:
                candidate = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            loaded = self._attempt(*candidate)
            if loaded is not None:
                with self._lock:
                    self._pending = loaded

    def _attempt(self, message: ModelPromoted, run_dir: Path, source: str) -> LoadedModel | None:
        # The registry writes the pointer file and publishes the same JSON: one promotion, one
        # verdict, whichever trigger saw it first. A promotion made again gets a new ts.
        key = message.model_dump_json()
        if key in self._seen:
            return None
        self._seen.append(key)
        fold = message.fold
        fingerprint = RunDir(run_dir).fingerprint(fold)
        if fingerprint == self._serving_fingerprint:
            log.info("%s fold %d is already serving (%s)", run_dir, fold, source)
            return None
        start = time.perf_counter()
        try:
            serving = load_serving_model(run_dir, fold)
            fast = FastDeepLOB(serving.model)
            gap = verify_against_eager(fast, serving.model)
            if not gap <= EAGER_TOLERANCE:
                raise BadCheckpoint(f"fast path differs from eager by {gap:.3g}")
        except BadCheckpoint as exc:
            self._refuse(str(run_dir), str(exc))
            return None
        except Exception as exc:  # loader boundary: anything unexpected is a refusal, not a crash
            log.exception("unexpected error loading %s", run_dir)
            self._refuse(str(run_dir), f"{type(exc).__name__}: {exc}")
            return None
        log.info(
            "verified model %s from %s in %.2f s (%s)",
            serving.version,
            run_dir,
            time.perf_counter() - start,
            source,
        )
        return LoadedModel(serving=serving, fast=fast, fingerprint=fingerprint)

    def _refuse(self, path: str, reason: str) -> None:
        log.error("refused model %s: %s; the current model keeps serving", path, reason)
        self.metrics.refused.inc()
        self.board.add_refusal(path, reason)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
