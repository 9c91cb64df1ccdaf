"""A plug-in engine that fails on demand, installed through an entry point for the fault tests.

``test-faulty:fault=NAME,at_call=N`` is the exact product except on its N-th matmul call
(counted per instance, from 1), where it does what ``fault`` says:

- ``matmul``: raises RuntimeError; ``list``: returns a list; ``shape``: drops the last row;
  ``dtype``: returns complex64 for complex128 operands; ``real``: returns the float64 real
  part; ``readonly``: returns a read-only array; ``nan``: puts a NaN in the result;
  ``mutate``: writes into an operand;
  ``input``: returns its second operand itself; ``hang``: never returns (sleeps in a loop);
  ``escape``: raises :class:`Escape`, no Exception; ``zero``: returns zeros (no breach: the metrics
  of a vanished state are NaN);
- ``flops``: raises in ``flops_fraction``; ``flops-nan`` / ``flops-inf``: returns NaN / inf
  there;
- ``init``: raises RuntimeError in the constructor.

It is declared through the ``qsim_topo.engines`` entry-point group by :func:`install` (a
``dist-info`` folder in a temporary directory put on ``sys.path``), so worker processes of a
sweep, spawned fresh, find it the way they would find a real plug-in.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from qsim_topo.engines import base

NAME = "test-faulty"
MATMUL_FAULTS = (
    "matmul", "list", "shape", "dtype", "real", "nan", "mutate", "input", "readonly",
)
FLOPS_FAULTS = ("flops", "flops-nan", "flops-inf")


class Escape(BaseException):
    """Raised by the ``escape`` fault: a BaseException that ``except Exception`` misses."""


class FaultyEngine:
    """The exact product, with the fault ``fault`` at matmul call ``at_call`` (see module)."""

    name = NAME
    exact = False
    family = "plug-in"

    def __init__(self, *, fault: str = "none", at_call: int = 1, exact: bool = False) -> None:
        if fault == "init":
            raise RuntimeError("the faulty engine's constructor broke")
        self.fault = fault
        self.at_call = at_call
        self.exact = exact  # a plug-in may claim to be exact: it is guarded all the same
        self.calls = 0
        self.options = {"fault": fault, "at_call": at_call, "exact": exact}

    def matmul(self, a, b, /):
        self.calls += 1
        out = np.matmul(a, b)
        if self.calls != self.at_call:
            return out
        if self.fault == "matmul":
            raise RuntimeError(f"boom at call {self.calls}")
        if self.fault == "escape":  # escapes every `except Exception`
            raise Escape(f"escaped at call {self.calls}")
        if self.fault == "zero":  # within the contract: a (very) wrong, finite answer
            return np.zeros_like(out)
        if self.fault == "list":
            return out.tolist()
        if self.fault == "shape":
            return out[:-1]
        if self.fault == "dtype":
            return out.astype(np.complex64)
        if self.fault == "readonly":
            out.flags.writeable = False
            return out
        if self.fault == "real":
            return out.real.copy()
        if self.fault == "nan":
            out[0, 0] = np.nan
        elif self.fault == "mutate":  # the state (b) where it can: gate matrices are read-only
            victim = b if b.flags.writeable else a
            victim[0, 0] = victim[0, 0] * 2 + 1
        elif self.fault == "input":
            return b
        elif self.fault == "hang":
            while True:
                time.sleep(0.05)
        return out

    def flops_fraction(self, m, k, n):
        if self.fault == "flops":
            raise ZeroDivisionError("no fraction today")
        if self.fault == "flops-nan":
            return float("nan")
        if self.fault == "flops-inf":
            return float("inf")
        return 1.0


def install(tmp_path: Path, monkeypatch) -> str:
    """Declare :class:`FaultyEngine` as the entry point ``test-faulty``; returns the name.

    Undo with ``base.unregister_engine(NAME)`` (the ``faulty`` fixtures do).
    """
    dist = tmp_path / "qsim_topo_test_faulty-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qsim_topo_test_faulty\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[{base.ENTRY_POINT_GROUP}]\n{NAME} = tests.faulty_engines:FaultyEngine\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    base.unregister_engine(NAME)
    base._load_entry_points(force=True)
    return NAME
