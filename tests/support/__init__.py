"""Kits for the tests (`from tests.support.<kit> import ...`), over the dev stack (devstack.stack)
and the product's own synthetic market, checkpoint writer and model store (devstack.seed):

- jobstack: Celery workers, job submission and job-event recording (tests/worker, reliability);
- livekit: broken checkpoints, HTTP probes and a WebSocket reader (tests/inference, reliability);
- relkit: the reliability suite's whole stack, a threaded subscriber, the figures it records;
- feedkit: a fake Binance replaying a recorded capture (tests/feed);
- trainkit: a tiny order book with a planted next-move signal (the training tests).
"""
