"""JSON that PostgreSQL's JSONB accepts: non-finite floats (NaN, ±inf; an undefined metric) become
null. It walks the value, so a string such as "NaN-feed" is left exactly as it is."""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> float | None:
    """`value` as a float, or None when it is not a number or not finite."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def json_safe(obj: Any) -> Any:
    """A copy of `obj` with only JSON types (dict keys as strings, tuples as lists, anything else
    as its str) and every non-finite float replaced by None."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, int | str):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # a numpy scalar
        return json_safe(obj.item())
    return str(obj)
