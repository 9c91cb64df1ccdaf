"""Seeds of an experiment's measurement draws, derived so the engine under test cannot predict them.

An experiment has one seed. The engine under test never gets it: a random engine is seeded
with ``derive_seed(seed, "engine")``, a one-way hash, so knowing its own seed tells the engine
nothing about the experiment seed or the other streams. The draws that measure the engine
(Haar-random probe states, sampled bitstrings) are keyed, besides the experiment seed, by a
digest of the engine's output (commit, then challenge): they are fixed only after the engine
has returned its product, so even an engine that guessed the experiment seed (small seeds can
be searched against the layers it is given) cannot shape its output to the probes, since
changing its output changes them. Everything stays a deterministic function of the experiment
seed and the engine's (seeded) output, so runs are reproducible.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from qsim_topo.xp import to_numpy

__all__ = ["ENGINE", "INITIAL", "PROBES", "SAMPLING", "SHOTS", "array_digest", "derive_seed"]

#: Purposes of the derived streams.
ENGINE = "engine"
INITIAL = "initial"
PROBES = "probes"
SAMPLING = "sampling"
SHOTS = "shots"

_DOMAIN = b"qsim_topo/derived-seed/v1"


def derive_seed(seed: int | None, purpose: str, *commitments: bytes) -> int:
    """A 63-bit seed for ``purpose``: sha256 of (domain, experiment seed, purpose, commitments).

    One-way: the result reveals neither ``seed`` nor any other purpose's seed. ``seed=None``
    draws fresh entropy (the run is then not reproducible, as the caller asked).

    Args:
        seed: the experiment seed (a non-negative integer) or None.
        purpose: what the stream is for (``ENGINE``, ``PROBES``, ...).
        commitments: digests (:func:`array_digest`) of outputs the draws must not precede.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    h = hashlib.sha256(_DOMAIN)
    for part in (str(int(seed)).encode(), purpose.encode(), *commitments):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return int.from_bytes(h.digest()[:8], "little") >> 1


def array_digest(x: Any) -> bytes:
    """A sha256 digest of an array's shape, dtype and every byte (copied to the host)."""
    a = np.ascontiguousarray(to_numpy(x))
    h = hashlib.sha256(f"{a.shape}{a.dtype.str}".encode())
    h.update(a.data.cast("B"))  # no copy: the buffer itself
    return h.digest()
