"""Memory a simulation needs, checked before anything is allocated.

:func:`simulation_bytes` is the peak of one run (the reference path's copies, or the in-place
path's one tensor plus a fixed workspace); :func:`check_program_memory` refuses a program
that would not fit, with the numbers in the message.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from qsim_topo.circuit import Program
from qsim_topo.errors import CircuitError, InvalidArgumentError
from qsim_topo.sim.numba_kernels import MAX_TILE_BYTES
from qsim_topo.validation import check_int, describe
from qsim_topo.xp import check_memory, resolve_device

__all__ = [
    "MAX_SHOTS",
    "SUPPORTED_DTYPES",
    "check_dtype",
    "check_program_memory",
    "check_shots_memory",
    "shots_bytes",
    "simulation_bytes",
    "widens_in_place",
]

# An absolute cap on shots, whatever the memory: a billion shots is minutes of sampling and
# tens of GiB of per-shot words; more is refused with this number in the message.
MAX_SHOTS = 10**9
# Per shot while sampling: the uniform draw, the outcome, the memory word and the temporaries
# of searchsorted / unique / Counter (int64 or float64 each), about eight 8-byte values.
_SAMPLE_BYTES_PER_SHOT = 64
# Per shot kept with ``memory=True``: a hex string (a str object of ~50 bytes plus a digit per
# 4 clbits) and its list slot.
_MEMORY_BYTES_PER_SHOT = 64
# Per distinct outcome in the counts: the key string, the count and the dict slot.
_COUNT_BYTES_PER_OUTCOME = 200

_SMALL_RUN_BYTES = 256 * 2**20  # above the in-place workspace alone
SUPPORTED_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))
# Peak number of full tensors alive while one op is applied: the tensor itself, its permuted
# copy, the engine's output and the re-permuted result.
_PEAK_TENSORS = 4


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy dtype.

    Raises:
        InvalidArgumentError: anything but complex64 or complex128 (or their names).
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt not in SUPPORTED_DTYPES:
        raise InvalidArgumentError(f"dtype must be complex64 or complex128, got {describe(dtype)}")
    return dt


def shots_bytes(shots: int, n_clbits: int, *, memory: bool) -> int:
    """Peak bytes of sampling ``shots`` shots and keeping their counts (and memory).

    The counts hold at most ``min(shots, 2**n_clbits)`` outcomes; with ``memory`` one hex
    string per shot is kept as well.
    """
    outcomes = min(shots, 2 ** min(n_clbits, 64))
    total = _SAMPLE_BYTES_PER_SHOT * shots + _COUNT_BYTES_PER_OUTCOME * outcomes
    if memory:
        total += (_MEMORY_BYTES_PER_SHOT + (n_clbits + 3) // 4) * shots
    return total


def check_shots_memory(
    shots: Any,
    n_clbits: int,
    *,
    memory: bool = False,
    experiments: int = 1,
    what: str = "the run",
) -> int:
    """``shots`` as an int, refused before any work when absurd or too big for memory.

    ``experiments`` circuits of ``n_clbits`` clbits (at most) each keep their own results.

    Raises:
        ArgumentTypeError, InvalidArgumentError: not an integer in 1..MAX_SHOTS.
        InsufficientMemoryError: the samples, counts (and per-shot memory) of ``shots``
            shots would not fit (:func:`shots_bytes`; required and available bytes named).
    """
    count = check_int("shots", shots, min=1, max=MAX_SHOTS)
    required = experiments * shots_bytes(count, n_clbits, memory=memory)
    if required > _SMALL_RUN_BYTES:
        check_memory(required, "cpu", f"{what} with {count} shots"
                     + (" and per-shot memory" if memory else ""))
    return count


# The in-place path (exact engines): the tensor, chunk temporaries, and reductions of one chunk,
# or, in the tile pass, one tile and the rows of its widest gate per thread.
_INPLACE_WORKSPACE_BYTES = max(128 * 2**20, 2 * MAX_TILE_BYTES * (os.cpu_count() or 1))


def simulation_bytes(n_qubits: int, dtype: Any, *, unitary: bool, inplace: bool = False) -> int:
    """Peak bytes a run needs: a few (2^n,) states, or (2^n, 2^n) matrices when ``unitary``.

    With ``inplace`` (the chunked path of :func:`qsim_topo.sim.kernels.apply_inplace`, used
    with exact engines) one tensor plus a fixed workspace: 128 MiB, or two tiles per CPU core
    (:data:`~qsim_topo.sim.numba_kernels.MAX_TILE_BYTES` each) where that is more.
    """
    itemsize = check_dtype(dtype).itemsize
    elements = 4**n_qubits if unitary else 2**n_qubits
    if inplace:
        return elements * itemsize + _INPLACE_WORKSPACE_BYTES
    return _PEAK_TENSORS * elements * itemsize


def widens_in_place(program: Program, device: str, dtype: Any, *, inplace: bool) -> bool:
    """Whether ``execute(..., widen_final=True)`` simulates in a complex128 buffer.

    True for a complex64 run on the CPU with an exact (in-place) engine whose final state is
    kept (no measurement or reset): the state lives in the first half of a complex128 buffer
    and is widened in place at the end (:func:`~qsim_topo.xp.widen_complex64_inplace`), so
    the complex128 result costs no second allocation.
    """
    return (
        inplace
        and np.dtype(dtype) == np.complex64
        and resolve_device(device) == "cpu"
        and not program.has_measurements
    )


def check_program_memory(
    program: Program,
    device: str,
    dtype: Any,
    *,
    inplace: bool = False,
    widen_final: bool = False,
) -> None:
    """Refuse, before allocating, a program whose state/unitary does not fit in memory.

    With ``widen_final`` (as for :func:`~qsim_topo.sim.executor.execute`), a complex64 final
    state is counted as the complex128 array it becomes (or the buffer it is simulated in,
    :func:`widens_in_place`).

    Raises:
        InsufficientMemoryError: what, required and available bytes.
        CircuitError: more than 60 qubits.
    """
    unitary = program.method == "unitary"
    what = (
        f"circuit {program.name!r}: a {program.n_qubits}-qubit "
        f"{'unitary' if unitary else 'state-vector'} simulation"
    )
    if program.n_qubits > 60:  # 2^n overflows any memory; keep the arithmetic small
        raise CircuitError(f"{what} is far beyond any machine's memory")
    required = simulation_bytes(program.n_qubits, dtype, unitary=unitary, inplace=inplace)
    if widen_final and np.dtype(dtype) == np.complex64 and not program.has_measurements:
        elements = 4**program.n_qubits if unitary else 2**program.n_qubits
        if widens_in_place(program, device, dtype, inplace=inplace):
            required += 8 * elements  # the complex64 state is half of its complex128 buffer
        elif resolve_device(device) == "cpu":
            required += 16 * elements  # the widened copy (a GPU's is in host memory)
    if inplace and program.is_dynamic:
        # A measurement split copies the state for its second branch, which waits on a stack.
        required += simulation_bytes(program.n_qubits, dtype, unitary=unitary, inplace=True)
    if required <= _SMALL_RUN_BYTES:
        return  # reading the free memory costs more than a small circuit's whole run
    check_memory(required, device, what)
