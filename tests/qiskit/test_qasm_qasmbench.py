"""The real-world QASMBench corpus (../shared/qasmbench beside the checkout) against Aer.

Every file is listed in ``circuits/qasmbench.json`` with its expected outcome:

* ``STATE``: no mid-circuit measurement or reset: the final state of the circuit with its final
  measurements removed must equal Aer's (``save_statevector``) to 1e-10; small measured ones
  also compare counts;
* ``COUNTS``: mid-circuit measurement/reset/classical control: counts must pass a two-sample
  chi-square test against Aer's;
* ``PARSE_ERROR``: the file is broken (it measures a register it never declares): loading must
  fail with the parser's message naming the line;
* ``excluded``: deliberately not run (the reason in ``skip``);
* a skip reason: too wide or too slow for the 4-minute CI budget of this suite on 2 cores (set
  ``QSIM_TOPO_FULL_CORPUS=1`` to run them anyway; they then need minutes and several GiB).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from qiskit import transpile

from qsim_topo.qiskit import QasmLoadError, QsimTopoBackend, circuit_to_program
from qsim_topo.qiskit.qasm import load_qasm
from tests.qiskit.qiskit_helpers import QASMBENCH, counts_tvd, two_sample_chi2_pvalue

STATE, COUNTS, PARSE_ERROR = "state", "counts", "parse_error"
SHOTS = 4000
FULL = os.environ.get("QSIM_TOPO_FULL_CORPUS") == "1"

EXCLUDED = "excluded"
MANIFEST = Path(__file__).resolve().parents[2] / "circuits" / "qasmbench.json"


def _manifest() -> list[tuple[str, str, str | None]]:
    """(path under qasmbench, expected outcome, skip reason or None), from the manifest."""
    entries = json.loads(MANIFEST.read_text())["files"]
    return [(e["file"], e["expected"], e.get("skip")) for e in entries]


CORPUS = _manifest()


def test_the_manifest_is_well_formed():
    paths = [path for path, _, _ in CORPUS]
    assert len(paths) == len(set(paths)), "a file is listed twice"
    for path, expected, skip in CORPUS:
        assert expected in (STATE, COUNTS, PARSE_ERROR, EXCLUDED), (path, expected)
        assert expected != EXCLUDED or skip, f"{path} is excluded without a reason"


needs_corpus = pytest.mark.skipif(
    not QASMBENCH.is_dir(), reason=f"the QASMBench corpus is not at {QASMBENCH}"
)


def _cases() -> list:
    return [
        pytest.param(
            path, expected, id=path.split("/")[-1].removesuffix(".qasm"),
            marks=[pytest.mark.skip(reason=skip)] if skip and not FULL else [],
        )
        for path, expected, skip in CORPUS
        if expected != EXCLUDED
    ]


@needs_corpus
def test_the_manifest_covers_the_whole_corpus():
    # Every file on disk is listed (run, skipped or deliberately excluded), and nothing else.
    on_disk = sorted(str(p.relative_to(QASMBENCH)) for p in QASMBENCH.glob("*/*/*.qasm"))
    assert sorted(path for path, _, _ in CORPUS) == on_disk


@pytest.fixture(scope="module")
def ours():
    return QsimTopoBackend(device="cpu")


def _aer_state(aer, circuit):
    tqc = transpile(circuit, aer, optimization_level=0)
    tqc.save_statevector()
    return np.asarray(aer.run(tqc, shots=1).result().get_statevector(0).data)


@needs_corpus
@pytest.mark.parametrize(("path", "expected"), _cases())
def test_corpus_file_agrees_with_aer(ours, aer, path, expected):
    if expected == PARSE_ERROR:
        with pytest.raises(QasmLoadError, match=r"line \d+, column \d+: .*not defined"):
            load_qasm(QASMBENCH / path)
        return
    circuit, version = load_qasm(QASMBENCH / path)
    assert version == 2
    stripped = circuit.remove_final_measurements(inplace=False)
    dynamic = circuit_to_program(stripped).has_measurements
    assert dynamic == (expected == COUNTS), "the expected outcome no longer fits the file"
    if expected == STATE:
        state = ours.run(stripped, shots=1).result().get_statevector(0).data
        ref = _aer_state(aer, stripped)
        np.testing.assert_allclose(state, ref, atol=1e-10, rtol=0)
        if circuit.num_clbits == 0 or circuit.num_qubits > 12:
            return
    counts = ours.run(circuit, shots=SHOTS, seed_simulator=1).result().get_counts()
    tqc = transpile(circuit, aer, optimization_level=0)
    # Aer simulates a circuit with resets shot by shot (0.5 s a shot at 18 qubits): fewer
    # reference shots for wide ones; the two-sample test allows unequal totals.
    aer_shots = SHOTS if circuit.num_qubits <= 12 else 20
    ref_counts = aer.run(tqc, shots=aer_shots, seed_simulator=2).result().get_counts()
    p = two_sample_chi2_pvalue(counts, ref_counts)
    assert p > 1e-4, f"chi2 p={p:.2e}, TVD={counts_tvd(counts, ref_counts):.3f}"
