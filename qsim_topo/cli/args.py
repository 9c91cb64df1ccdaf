"""Argument types shared by the ``qsim-topo`` subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from qsim_topo.engines.base import parse_option_value

__all__ = ["engine_option", "int_list", "positive_int"]


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
