"""Engine specs: ``"name:key=value,..."`` strings, as the CLI and sweeps take them."""

from __future__ import annotations

import json
from typing import Any

from qsim_topo.errors import EngineOptionError

__all__ = ["parse_engine_spec", "parse_option_value"]


def parse_option_value(text: str) -> Any:
    """Parse an option value given as text.

    JSON literals (numbers, true/false/null, quoted strings, lists) and Python's True, False
    and None become Python values; anything else stays the string itself.
    """
    lowered = text.strip()
    if lowered in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[lowered]
    try:
        return json.loads(lowered)
    except ValueError:
        return text


def parse_engine_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name:key=value,key=value"`` into the name and a dict of parsed options.

    Raises:
        EngineOptionError: an option without ``=``.

    """
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise EngineOptionError(f"engine option {item!r} in {spec!r} is not key=value")
        options[key.strip()] = parse_option_value(value)
    return name.strip(), options
