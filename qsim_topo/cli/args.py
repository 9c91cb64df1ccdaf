"""Argument types and value formatting shared by the ``qsim-topo`` subcommands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, NoReturn

from qsim_topo.engines.base import parse_option_value

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "OneLineParser",
    "engine_option",
    "error_line",
    "format_value",
    "int_list",
    "positive_int",
]

EXIT_USAGE = 2  # a user error: bad arguments, options, input files, refused sizes
EXIT_INTERNAL = 1  # an unexpected exception: a bug, reported in one line (--traceback: all)
EXIT_FAILURE = 1  # the work failed: an engine broke its contract, or a time limit was passed


def error_line(message: object) -> str:
    """``qsim-topo: error: MESSAGE`` on one line (the message's lines joined by spaces)."""
    text = " ".join(str(message).split()) or "unknown error"
    return f"qsim-topo: error: {text}"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one ``qsim-topo: error: ...`` line (exit 2).

    Subcommand parsers made by ``add_subparsers().add_parser`` inherit the class.
    """

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem and where to find help, and exit 2."""
        self.exit(EXIT_USAGE, error_line(f"{message} (see '{self.prog} --help')") + "\n")


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def directory_path(text: str) -> Path:
    """A non-empty path (argparse type): ``Path("")`` is ``.``, and --out '' wrote there."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not a path (empty)")
    return Path(text)


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
