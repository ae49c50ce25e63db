"""Job results with undefined metrics round-trip through PostgreSQL's JSONB (issue 12, item 3)."""

from __future__ import annotations

import json

import numpy as np
import sqlalchemy as sa

from shared.db.models import Job
from shared.jsonsafe import finite, json_safe


def test_non_finite_floats_become_null_and_strings_stay_as_they_are(database_url: str) -> None:
    # Given a result with -inf, nan, +inf and strings that contain "NaN" and "Infinity"
    result = {
        "loss": float("-inf"),
        "f1": float("nan"),
        "nested": [{"x": float("inf"), "y": np.float32(0.5)}, (1, np.int64(2))],
        "dataset": "NaN-feed",
        "symbol": "-Infinity.X",
        3: True,
    }
    # When it is stored in a job's result column and read back
    engine = sa.create_engine(database_url)
    try:
        with sa.orm.Session(engine) as s:
            job = Job(dataset="NaN-feed", config={}, result=json_safe(result))
            s.add(job)
            s.commit()
            job_id = job.id
        with engine.connect() as conn:
            raw = conn.execute(
                sa.text("SELECT result::text FROM jobs WHERE id = :i"), {"i": job_id}
            ).scalar_one()
    finally:
        engine.dispose()
    # Then the JSON is valid, every non-finite float is null, and the strings are untouched
    assert json.loads(raw) == {
        "loss": None,
        "f1": None,
        "nested": [{"x": None, "y": 0.5}, [1, 2]],
        "dataset": "NaN-feed",
        "symbol": "-Infinity.X",
        "3": True,
    }


def test_finite_reads_numbers_and_refuses_the_rest() -> None:
    assert finite("1.5") == 1.5 and finite(np.float64(2)) == 2.0
    assert finite(float("nan")) is None and finite(float("-inf")) is None
    assert finite(None) is None and finite("x") is None
