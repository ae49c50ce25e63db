"""The WebSocket endpoint `/ws/{session_id}`: subscriptions in, predictions and job events out.

Also GET /api/live/symbols: which symbols have live predictions, for the Predict page to open on;
GET /api/live/scores and /api/live/scores/history: how the served models are doing live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from pydantic import ValidationError

from services.api.deps import RedisDep, SessionDep
from services.api.errors import documented
from services.api.live import service
from services.api.live.relay import LIVE_WITHIN_S, SLOW_CLIENT_CODE, Client, Relay
from services.api.live.schemas import (
    MAX_FRAME_CHARS,
    MAX_SUBSCRIPTIONS,
    ClientMessage,
    ErrorMessage,
    LiveHistoryOut,
    LiveScoresOut,
    LiveSymbolsOut,
    Pong,
    Subscribed,
)
from shared.data.schema import SYMBOL_PATTERN

log = logging.getLogger("lob.relay")
router = APIRouter(tags=["live"])

SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # e.g. model-test-3fz9k2
CLOSE_WAIT_S = 10.0  # how long a dropped slow client gets to take its close frame


def get_relay(request: Request) -> Relay:
    return request.app.state.relay


RelayDep = Annotated[Relay, Depends(get_relay)]


@router.get("/api/live/symbols", response_model=LiveSymbolsOut)
async def live_symbols(relay: RelayDep) -> LiveSymbolsOut:
    """Symbols inference is serving now (a prediction in the last `within_s` seconds), by name."""
    return LiveSymbolsOut(symbols=relay.live_symbols(), within_s=LIVE_WITHIN_S)


@router.get("/api/live/scores", response_model=LiveScoresOut)
async def live_scores(redis: RedisDep) -> LiveScoresOut:
    """Each model version's live scores on each symbol (predictions resolved into their realised
    labels): accuracy, macro F1 and confusion over the last 1,000 and since load, the live
    backtest, the test-set figures beside them and the drift flag. Rewritten about once a second
    by inference; `inference_error` says why it is empty."""
    return await service.scores(redis=redis)


@router.get("/api/live/scores/history", response_model=LiveHistoryOut, responses=documented(503))
async def live_scores_history(
    session: SessionDep,
    model_version: Annotated[str, Query(min_length=1, max_length=128)],
    symbol: Annotated[str, Query(pattern=f"^{SYMBOL_PATTERN}$")],
    limit: Annotated[
        int, Query(ge=1, le=10_080, description="newest minutes (10,080: a week)")
    ] = 1_440,
) -> LiveHistoryOut:
    """One row per minute of a model version's live scores on a symbol, oldest first (kept in
    PostgreSQL, so across restarts of inference)."""
    return await service.history(
        session=session, model_version=model_version, symbol=symbol, limit=limit
    )


@router.websocket("/ws/{session_id}")
async def live_socket(websocket: WebSocket, session_id: str) -> None:
    """Send {"subscribe": ["BTCUSDT"]} (and/or {"subscribe_jobs": [id]}); receive messages."""
    relay: Relay = websocket.app.state.relay
    if not SESSION_RE.fullmatch(session_id):
        await websocket.close(code=1008, reason="invalid session id")
        return
    await websocket.accept()
    client = Client(send=websocket.send_text, queue_size=relay.queue_size)
    relay.add(client)
    pump = asyncio.create_task(client.pump())
    receiver = asyncio.create_task(_receive(websocket, relay, client))
    overflow = asyncio.create_task(client.overflowed.wait())
    tasks = (pump, receiver, overflow)
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if overflow in done:
            relay.remove(client)  # stop queueing for it at once
            pump.cancel()
            receiver.cancel()
            log.warning("dropping slow WebSocket client %s (queue overflow)", session_id)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    websocket.close(code=SLOW_CLIENT_CODE, reason="slow consumer: queue overflow"),
                    CLOSE_WAIT_S,
                )
    finally:
        relay.remove(client)
        for task in tasks:
            task.cancel()
        for task in tasks:
            # Collect every outcome (a send to a vanished peer raises) so none is left unretrieved.
            with contextlib.suppress(BaseException):
                await task


async def _receive(websocket: WebSocket, relay: Relay, client: Client) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            _error(client, "binary frames are not understood: send JSON text")
            continue
        if len(text) > MAX_FRAME_CHARS:
            _error(client, f"message too large ({len(text)} > {MAX_FRAME_CHARS} characters)")
            continue
        try:
            parsed = ClientMessage.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            _error(client, f"not JSON: {exc.msg} at character {exc.pos}")
            continue
        except RecursionError:
            _error(client, "JSON nested too deeply")
            continue
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            _error(client, f"{where + ': ' if where else ''}{first['msg']}")
            continue
        _apply(relay, client, parsed)


def _apply(relay: Relay, client: Client, msg: ClientMessage) -> None:
    if msg.ping is not None:
        client.offer(Pong().model_dump_json())
    changes = msg.subscribe or msg.unsubscribe or msg.subscribe_jobs or msg.unsubscribe_jobs
    if not changes:
        return
    relay.unsubscribe(client, symbols=msg.unsubscribe, jobs=msg.unsubscribe_jobs)
    if len(client.symbols | set(msg.subscribe)) > MAX_SUBSCRIPTIONS or (
        len(client.jobs | set(msg.subscribe_jobs)) > MAX_SUBSCRIPTIONS
    ):
        _error(client, f"at most {MAX_SUBSCRIPTIONS} symbols and {MAX_SUBSCRIPTIONS} jobs")
    else:
        relay.subscribe(client, symbols=msg.subscribe, jobs=msg.subscribe_jobs)
    reply = Subscribed(symbols=sorted(client.symbols), jobs=sorted(client.jobs))
    client.offer(reply.model_dump_json())


def _error(client: Client, text: str) -> None:
    client.offer(ErrorMessage(code="bad_message", message=text).model_dump_json())
