"""Hot reload: watch `lob:models` and the model store's pointers, verify, hand over.

Two slots: the champion (`models/active.json`, ModelPromoted), whose predictions are published,
and the challenger (`models/shadow.json`, ModelShadow), scored beside it and never published. Two
triggers so a change is never missed: the pub/sub message (instant, but lost while Redis or this
process is down) and polling the pointer files (always eventually right). Both feed one loader
thread, which verifies a candidate completely off the serving path:

  1. shared.ml.checkpoint.load_serving_model: manifest sha256 of every file, torch.load with
     weights_only=True (a pickle payload is never executed), strict state_dict keys and shapes,
     a finite test forward pass;
  2. its serving path (shared/ml/serving_path.py: DeepLOB's incremental fast path, a TorchScript
     copy for the other models) is built and must agree with plain eager on sliding windows.

Only then does the candidate become pending for its slot; the serving loop swaps it in between
two rounds of predictions. A candidate already verified and in use (the challenger promoted: the
two swap places) is handed over again without loading it twice. A refused candidate is logged,
counted and listed in the status; the old model keeps serving (or being scored).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import redis
from pydantic import BaseModel, ValidationError

from services.inference.predictor import LoadedModel
from services.inference.status import Metrics, StatusBoard
from shared.errors import BadCheckpoint
from shared.events import MODELS_CHANNEL, ModelPromoted, ModelRef, ModelShadow, parse_models_message
from shared.ml.checkpoint import load_serving_model
from shared.ml.serving_path import serving_path, verify_serving_path
from shared.rundir import ModelStore, RunDir

log = logging.getLogger("lob.inference")

EAGER_TOLERANCE = 1e-4  # max |fast - eager| probability; float32 reorderings stay near 1e-7
POLL_S = 1.0
SEEN_KEPT = 256  # announcements remembered, so one seen twice (pointer and pub/sub) is tried once
Slot = Literal["champion", "shadow"]


@dataclass(frozen=True)
class Request:
    slot: Slot
    ref: ModelRef | None  # None: no shadow from now on
    key: str  # the announcement's JSON: one announcement, one verdict
    source: str


@dataclass(frozen=True)
class ShadowChange:
    model: LoadedModel | None  # None: the shadow was removed


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
        self._requests: queue.Queue[Request] = queue.Queue()
        self._pending: LoadedModel | None = None
        self._pending_shadow: ShadowChange | None = None
        self._in_use: dict[Slot, LoadedModel | None] = {"champion": None, "shadow": None}
        self._lock = threading.Lock()
        self._seen: deque[str] = deque(maxlen=SEEN_KEPT)
        self._pointers_seen: dict[Path, tuple[int, int, bytes]] = {}
        self._stop = threading.Event()

    # -- the serving loop's side -----------------------------------------------------------------

    def take(self) -> LoadedModel | None:
        """The champion to swap in, if a new one is verified."""
        with self._lock:
            model, self._pending = self._pending, None
            if model is not None:
                self._in_use["champion"] = model
        return model

    def take_shadow(self) -> ShadowChange | None:
        """A new challenger (or its removal), if there is one."""
        with self._lock:
            change, self._pending_shadow = self._pending_shadow, None
            if change is not None:
                self._in_use["shadow"] = change.model
        return change

    def load_initial(self) -> None:
        """Verify the active model (and the shadow) synchronously at start-up; `take()` and
        `take_shadow()` then return them."""
        self._poll_pointers()
        while True:
            try:
                self._attempt(self._requests.get_nowait())
            except queue.Empty:
                return

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

    def request(self, message: ModelPromoted | ModelShadow, source: str) -> None:
        if isinstance(message, ModelShadow):
            req = Request("shadow", message.model, message.model_dump_json(), source)
        else:
            req = Request("champion", message, message.model_dump_json(), source)
        self._requests.put(req)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self._poll_pointers()

    def _poll_pointers(self) -> None:
        store = ModelStore(self.home)
        kinds: tuple[tuple[Path, type[ModelPromoted] | type[ModelShadow]], ...] = (
            (store.active_path, ModelPromoted),
            (store.shadow_path, ModelShadow),
        )
        for pointer, kind in kinds:
            try:
                st = pointer.stat()
                seen = (st.st_mtime_ns, st.st_size, pointer.read_bytes())
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("cannot read %s: %s", pointer, exc)
                continue
            if seen == self._pointers_seen.get(pointer):
                continue
            self._pointers_seen[pointer] = seen
            try:
                message: BaseModel = kind.model_validate_json(seen[2])
            except ValidationError as exc:
                self._refuse(str(pointer), f"unreadable pointer: {_first_error(exc)}")
                continue
            assert isinstance(message, ModelPromoted | ModelShadow)
            self.request(message, pointer.name)

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
                    if isinstance(message, ModelPromoted | ModelShadow):  # not our own drift news
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
                req = self._requests.get(timeout=0.5)
            except queue.Empty:
                continue
            self._attempt(req)

    def _attempt(self, req: Request) -> None:
        # The registry writes the pointer file and publishes the same JSON: one announcement, one
        # verdict, whichever trigger saw it first. An announcement made again gets a new ts.
        if req.key in self._seen:
            return
        self._seen.append(req.key)
        if req.ref is None:
            log.info("shadow removed (%s)", req.source)
            self._hand_over(req.slot, None)
            return
        run_dir = Path(req.ref.path)
        if not run_dir.is_absolute():
            run_dir = self.home / run_dir
        fold = req.ref.fold
        fingerprint = RunDir(run_dir).fingerprint(fold)
        with self._lock:
            current = self._in_use[req.slot]
            known = [m for m in (*self._in_use.values(), self._pending) if m is not None]
        if current is not None and current.fingerprint == fingerprint:
            log.info("%s fold %d is already the %s (%s)", run_dir, fold, req.slot, req.source)
            return
        loaded = next((m for m in known if m.fingerprint == fingerprint), None)
        if loaded is None:
            loaded = self._verify(run_dir, fold, fingerprint, req.source)
        if loaded is not None:
            self._hand_over(req.slot, loaded)

    def _hand_over(self, slot: Slot, loaded: LoadedModel | None) -> None:
        with self._lock:
            if slot == "champion":
                self._pending = loaded
            else:
                self._pending_shadow = ShadowChange(loaded)

    def _verify(
        self, run_dir: Path, fold: int, fingerprint: tuple[object, ...], source: str
    ) -> LoadedModel | None:
        start = time.perf_counter()
        try:
            serving = load_serving_model(run_dir, fold)
            fast = serving_path(serving.model)
            gap = verify_serving_path(fast, serving.model)
            if not gap <= EAGER_TOLERANCE:
                raise BadCheckpoint(f"serving path differs from eager by {gap:.3g}")
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
