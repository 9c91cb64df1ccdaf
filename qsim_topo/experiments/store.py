"""A durable, resumable result store: one directory, JSON Lines appended one fsync'd row at a time.

Layout of a store directory:

- ``sweep.json``: the sweep's specification, written atomically (temporary file + fsync +
  rename). A different specification in the same directory is refused unless forced.
- ``results.jsonl``: one JSON object per finished experiment, appended and fsync'd as soon as
  it finishes. A crash (even SIGKILL) can leave at most a partial last line, which is ignored
  on reading and cut off before the next append. Rows are never rewritten: a retried
  experiment appends a new row, and readers take the latest row of each ``key``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qsim_topo.errors import QsimTopoError

__all__ = [
    "RESULTS_FILE",
    "SPEC_FILE",
    "STATUSES",
    "ResultStore",
    "SweepSpecMismatchError",
    "dumps_json",
    "json_safe",
    "row_problem",
]

SPEC_FILE = "sweep.json"
RESULTS_FILE = "results.jsonl"


class SweepSpecMismatchError(QsimTopoError):
    """The directory holds results of a sweep with another specification."""


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return str(value)


def json_safe(value: Any) -> Any:
    """``value`` made valid for strict JSON: non-finite floats become "nan", "inf", "-inf".

    Dicts, lists and tuples are walked; numpy scalars and arrays become Python numbers and
    lists. Everything qsim_topo writes as JSON (the store's rows, ``--json`` output) goes
    through this, so no output holds a bare ``NaN`` or ``Infinity``, which JSON lacks.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else str(f)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` of :func:`json_safe` (``value``), strict: never NaN or Infinity."""
    kwargs.setdefault("default", _json_default)
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def _encode(row: Mapping[str, Any]) -> str:
    # Non-finite floats are written as the strings "nan", "inf", "-inf": plain JSON has none.
    return dumps_json(dict(row), sort_keys=True)


def _decode_value(v: Any) -> Any:
    if v in ("nan", "inf", "-inf"):
        return float(v)
    return v


#: Statuses a row may have: ``ok``, ``failed`` (the error in ``error``) or ``timed_out``.
STATUSES = ("ok", "failed", "timed_out")
_INT_FIELDS = ("qubits", "depth", "samples", "haar_states", "seed", "matmul_calls")
_STR_FIELDS = ("key", "status", "kind", "mode", "engine", "engine_spec", "dtype", "device")
_REQUIRED = ("qubits", "depth", "kind", "mode", "engine_spec", "dtype", "device", "seed")
SUMMARY_METRICS = (
    "state_fidelity",
    "haar_input_fidelity",
    "frobenius_error",
    "aligned_frobenius_error",
    "process_fidelity",
    "haar_input_fidelity_expected",
    "norm",
    "xeb",
    "xeb_infinite",
    "xeb_ideal_mean",
    "xeb_ideal_std",
    "xeb_normalized",
    "log_xeb",
    "tvd",
    "flops_fraction",
    "wall_time_s",
    "exact_wall_time_s",
    "time_ratio",
)
"""The numeric metrics of a row that the summary averages (:mod:`.summary`)."""
# Every numeric metric a row may hold: numbers or null, checked by row_problem (one list with
# the summary's, so that nothing the summary averages escapes the check).
_METRICS = (*SUMMARY_METRICS, "overlap")


def row_problem(row: Any, *, complete: bool = False) -> str | None:
    """Why ``row`` is no valid store row, or None when it is.

    Always checked: a JSON object with a non-empty string ``key``; ``status`` (when present)
    one of :data:`STATUSES`; the integer fields (qubits, depth, seed, ...) integers, the text
    fields (kind, engine_spec, dtype, ...) strings, and the metrics numbers or null, when
    present. With ``complete``: the configuration fields present, and an ``ok`` row has a
    ``state_fidelity`` (a row without metrics is no measurement).
    """
    if not isinstance(row, dict):
        return f"a JSON {type(row).__name__}, not an object"
    if not isinstance(row.get("key"), str) or not row["key"]:
        return "no string 'key'"
    if "status" in row and row["status"] not in STATUSES:
        return f"status {row['status']!r} is none of {', '.join(STATUSES)}"
    for name in _INT_FIELDS:
        value = row.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"field {name!r} is {type(value).__name__} {value!r:.40}, not an integer"
    for name in _STR_FIELDS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            return f"field {name!r} is {type(value).__name__} {value!r:.40}, not a string"
    for name in _METRICS:
        value = row.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"metric {name!r} is {type(value).__name__} {value!r:.40}, not a number"
    if complete:
        missing = [name for name in ("status", *_REQUIRED) if row.get(name) is None]
        if missing:
            return f"no {', '.join(missing)} (not a sweep row)"
        if row["status"] == "ok" and row.get("state_fidelity") is None:
            return "an ok row without metrics"
    return None


class ResultStore:
    """The store in ``directory`` (created on the first write, not before).

    Not safe for several writers at once: a sweep has exactly one writer (the process that
    runs the sweep), whatever executes the experiments.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise QsimTopoError(f"cannot use {self.directory} as a result directory: not a folder")
        self.results_path = self.directory / RESULTS_FILE
        self.spec_path = self.directory / SPEC_FILE
        self._fh: Any = None
        self.skipped: list[tuple[int, str]] = []  # (line, reason) of the last read's rejects

    # ------------------------------------------------------------------ specification

    def read_spec(self) -> dict[str, Any] | None:
        """The stored specification, or None for a new directory."""
        if not self.spec_path.exists():
            return None
        try:
            spec = json.loads(self.spec_path.read_text())
        except (ValueError, OSError) as exc:
            raise QsimTopoError(f"{self.spec_path} cannot be read as JSON: {exc}") from exc
        if not isinstance(spec, dict):
            raise QsimTopoError(f"{self.spec_path} holds a {type(spec).__name__}, not a sweep spec")
        return spec

    def bind_spec(self, spec: Mapping[str, Any], *, force: bool = False) -> None:
        """Record ``spec`` for this directory, refusing a different one unless ``force``.

        Raises:
            SweepSpecMismatchError: the directory holds another sweep and ``force`` is False.
        """
        new = json.loads(_encode(spec))
        old = self.read_spec()
        self._make_directory()
        if old is not None and old != new and not force:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise SweepSpecMismatchError(
                f"{self.directory} holds a sweep with another configuration (differs in: "
                f"{', '.join(changed)}); use another --out directory, or --force to add this "
                "configuration to it (stored rows are kept)"
            )
        if old != new:
            tmp = self.spec_path.with_suffix(".json.tmp")
            try:
                with open(tmp, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(new, indent=2, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.spec_path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise QsimTopoError(
                    f"cannot write {self.spec_path}: {exc.strerror or exc}"
                ) from exc
            _fsync_dir(self.directory)

    # ------------------------------------------------------------------ rows

    def rows(self, *, complete: bool = False) -> list[dict[str, Any]]:
        """Every stored row in file order; a partial last line (a crash mid-write) is skipped.

        A malformed or damaged line elsewhere is skipped with a warning naming the file and
        line number, and listed in :attr:`skipped` as ``(line, reason)``: not a JSON object,
        no string ``key``, an unknown ``status``, or a field of the wrong type (a list where
        a string belongs, text where a number does; see :func:`row_problem`). With
        ``complete`` (what sweeps and reports read), a row must also be a whole sweep row:
        its configuration fields present and, when ``ok``, its metrics.

        Raises:
            QsimTopoError: the results file cannot be read (a folder in its place, no access).

        """
        self.skipped = []
        if not self.results_path.exists():
            return []
        try:
            data = self.results_path.read_bytes()
        except OSError as exc:
            raise QsimTopoError(f"cannot read {self.results_path}: {exc}") from exc
        lines = data.split(b"\n")
        complete_file = data.endswith(b"\n")
        out: list[dict[str, Any]] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            last = number == len(lines) or (number == len(lines) - 1 and complete_file)
            try:
                row = json.loads(raw)
            except ValueError:
                if not (last and not complete_file):
                    self._skip(number, "malformed row (not JSON)")
                continue
            if isinstance(row, dict):
                row = {k: _decode_value(v) for k, v in row.items()}
            problem = row_problem(row, complete=complete)
            if problem is not None:
                self._skip(number, problem)
                continue
            out.append(row)
        return out

    def _skip(self, line: int, reason: str) -> None:
        self.skipped.append((line, reason))
        warnings.warn(f"{self.results_path}:{line}: {reason}; row skipped", stacklevel=3)

    def latest(self, *, complete: bool = False) -> dict[str, dict[str, Any]]:
        """The latest row of each key (rows as :meth:`rows` reads them)."""
        return {row["key"]: row for row in self.rows(complete=complete)}

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (must have a ``key``) and make it durable before returning.

        Raises:
            QsimTopoError: the row could not be written (a full disk, a lost mount). What it
                wrote of the row is cut off again where it can be, so every row committed
                before stays intact and readable; nothing else is kept open.

        """
        if "key" not in row:
            raise ValueError("a stored row needs a 'key'")
        line = _encode(row) + "\n"
        try:
            if self._fh is None:
                self._make_directory()
                self._repair_tail()
                self._fh = open(self.results_path, "a", encoding="utf-8")
            size = os.fstat(self._fh.fileno()).st_size  # every earlier row is flushed
            try:
                self._fh.write(line)
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError:
                self._abandon(size)
                raise
        except OSError as exc:
            raise QsimTopoError(
                f"cannot write a row to {self.results_path}: {exc.strerror or exc}; the rows "
                "stored before it are intact (run the same command again once there is room)"
            ) from exc

    def _abandon(self, size: int) -> None:
        """After a failed write: drop the handle and cut the file back to ``size`` bytes."""
        fh, self._fh = self._fh, None
        with contextlib.suppress(OSError):
            fh.close()  # its buffer may fail to flush again: the data is not wanted
        with contextlib.suppress(OSError):
            os.truncate(self.results_path, size)

    def close(self) -> None:
        """Close the append handle (rows are already durable: a failing close loses nothing)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QsimTopoError(
                f"cannot use {self.directory} as a result directory: {exc}"
            ) from exc

    def _repair_tail(self) -> None:
        """Cut a partial last line left by a crash, so the next row starts on its own line."""
        if not self.results_path.exists():
            return
        with open(self.results_path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            fh.seek(0)
            data = fh.read()
            keep = data.rfind(b"\n") + 1
            if _is_row(data[keep:]):  # complete but unterminated: rows() counts it, keep it
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")
            else:
                fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())


def _is_row(raw: bytes) -> bool:
    try:
        row = json.loads(raw)
    except ValueError:
        return False
    return isinstance(row, dict) and "key" in row


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
