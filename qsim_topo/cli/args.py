"""Argument types and value formatting shared by the ``qsim-topo`` subcommands."""

from __future__ import annotations

import argparse
import math
from typing import Any

from qsim_topo.engines.base import parse_option_value

__all__ = ["engine_option", "format_value", "int_list", "positive_int"]


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def engine_option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value parsed as JSON when it can be (argparse type)."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"engine option {text!r} is not key=value")
    return key.strip(), parse_option_value(value)


def int_list(text: str) -> list[int]:
    """A comma-separated list of integers >= 1 (argparse type)."""
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of integers"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: values must be positive integers")
    return values


def format_value(value: Any) -> str:
    """A report value for a table: floats with 6 decimals or 3 significant digits, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.6f}"
    return str(value)
