"""Progress reports of a running sweep: a tqdm bar on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["progress_printer"]


def progress_printer(stream: Any = None) -> Callable[[dict[str, Any], int, int], None]:
    """A progress callback: a tqdm bar on a terminal, plain log lines otherwise."""
    out = stream if stream is not None else sys.stderr
    if hasattr(out, "isatty") and out.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            state: dict[str, Any] = {}

            def with_bar(row: dict[str, Any], done: int, total: int) -> None:
                if "bar" not in state:
                    state["bar"] = tqdm(total=total, unit="exp", file=out, dynamic_ncols=True)
                state["bar"].set_postfix_str(_describe(row), refresh=False)
                state["bar"].update(1)
                if done >= total:
                    state["bar"].close()

            return with_bar
    start = time.perf_counter()

    def log_line(row: dict[str, Any], done: int, total: int) -> None:
        elapsed = time.perf_counter() - start
        left = elapsed / done * (total - done) if done else float("nan")
        print(
            f"[{done}/{total}] {elapsed:.0f}s elapsed, ~{left:.0f}s left: {_describe(row)}",
            file=out,
            flush=True,
        )

    return log_line


def _describe(row: dict[str, Any]) -> str:
    head = (
        f"{row['engine_spec']} q={row['qubits']} {row['kind']} d={row['depth']} seed={row['seed']}"
    )
    if row["status"] != "ok":
        return f"{head} {str(row['status']).upper().replace('_', ' ')}: {row['error']}"
    if row.get("mode") == "state":
        return (
            f"{head} F={row['state_fidelity']:.6f} XEB/ideal={row['xeb_normalized']:.4g} "
            f"TVD={row['tvd']:.4g} norm={row['norm']:.4g}"
        )
    return (
        f"{head} F={row['state_fidelity']:.6f} F_haar={row['haar_input_fidelity']:.6f} "
        f"F_pro={row['process_fidelity']:.4g} norm={row['norm']:.4g}"
    )
