"""JSON for everything taoke writes: numpy values, frozen results with ``to_dict``, NaN and infinities.

Every result document carries ``format`` and ``version`` (set by the result's ``to_dict``); this module only
turns values into JSON text. ``NaN`` becomes ``null`` and ``±inf`` the strings ``"inf"``/``"-inf"`` (JSON has
neither), numpy scalars and arrays become numbers and lists, ``bytes`` are decoded with backslash escapes.

>>> import numpy as np
>>> dumps({"p": np.float32(0.5), "x": float("nan"), "n": np.arange(2)}, indent=None)
'{"p": 0.5, "x": null, "n": [0, 1]}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["dumps", "jsonable"]


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return _clean_float(float(o))
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if isinstance(o, bytes):
        return o.decode("utf-8", "backslashreplace")
    return str(o)


def _clean_float(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _clean(o: Any) -> Any:
    if isinstance(o, float):
        return _clean_float(o)
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """JSON text for ``obj`` (numpy values, objects with ``to_dict`` and NaN/inf handled)."""
    return json.dumps(_clean(obj), indent=indent, default=_default, ensure_ascii=False)


def jsonable(x: Any) -> Any:
    """``x`` with everything JSON cannot hold turned into strings (mappings and sequences kept), for metadata
    copied from files into a JSON header."""
    try:
        json.dumps(x)
        return x
    except (TypeError, ValueError):
        if isinstance(x, Mapping):
            return {str(k): jsonable(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [jsonable(v) for v in x]
        return str(x)
