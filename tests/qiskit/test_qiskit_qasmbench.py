"""The real-world QASMBench corpus (../shared/qasmbench beside the checkout) against Aer.

Every file is listed with its expected outcome:

* ``STATE``: no mid-circuit measurement or reset: the final state of the circuit with its final
  measurements removed must equal Aer's (``save_statevector``) to 1e-10; small measured ones
  also compare counts;
* ``COUNTS``: mid-circuit measurement/reset/classical control: counts must pass a two-sample
  chi-square test against Aer's;
* ``PARSE_ERROR``: the file is broken (it measures a register it never declares): loading must
  fail with the parser's message naming the line;
* a skip reason: too wide or too slow for the 4-minute CI budget of this suite on 2 cores (set
  ``QSIM_TOPO_FULL_CORPUS=1`` to run them anyway; they then need minutes and several GiB).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from qiskit import transpile

from qsim_topo.qiskit import QasmLoadError, QsimTopoBackend, circuit_to_program
from qsim_topo.qiskit.verify import load_qasm
from tests.qiskit.qiskit_helpers import QASMBENCH, counts_tvd, two_sample_chi2_pvalue

STATE, COUNTS, PARSE_ERROR = "state", "counts", "parse_error"
SHOTS = 4000
FULL = os.environ.get("QSIM_TOPO_FULL_CORPUS") == "1"

CORPUS: list[tuple[str, str, str | None]] = [
    # (path under qasmbench, expected outcome, skip reason or None)
    ("medium/bigadder_n18/bigadder_n18.qasm", STATE, None),
    ("medium/bv_n14/bv_n14.qasm", STATE, None),
    ("medium/bv_n19/bv_n19.qasm", STATE, None),
    ("medium/bwt_n21/bwt_n21.qasm", COUNTS,
     "112,829 operations with resets on 21 qubits: ~1 h of numpy gate applications"),
    ("medium/cat_state_n22/cat_state_n22.qasm", STATE, None),
    ("medium/cc_n12/cc_n12.qasm", COUNTS, None),
    ("medium/dnn_n16/dnn_n16.qasm", STATE, None),
    ("medium/gcm_n13/gcm_h6.qasm", STATE, None),
    ("medium/ghz_state_n23/ghz_state_n23.qasm", STATE, None),
    ("medium/ising_n26/ising_n26.qasm", STATE,
     "26 qubits: 1 GiB state, ~1.2 s per gate x 306 gates in numpy on 2 cores"),
    ("medium/knn_n25/knn_n25.qasm", STATE, None),  # 22 s here (2 cores, loaded)
    ("medium/multiplier_n15/multiplier_n15.qasm", STATE, None),
    ("medium/multiply_n13/multiply_n13.qasm", STATE, None),
    ("medium/qec9xz_n17/qec9xz_n17.qasm", STATE, None),
    ("medium/qf21_n15/qf21_n15.qasm", STATE, None),
    ("medium/qft_n18/qft_n18.qasm", STATE, None),
    ("medium/qram_n20/qram_n20.qasm", STATE, None),
    ("medium/sat_n11/sat_n11.qasm", STATE, None),  # no OPENQASM line: detected as version 2
    ("medium/seca_n11/seca_n11.qasm", COUNTS, None),
    ("medium/square_root_n18/square_root_n18.qasm", COUNTS, None),
    ("medium/swap_test_n25/swap_test_n25.qasm", STATE, None),  # 37 s here
    ("medium/wstate_n27/wstate_n27.qasm", STATE,
     "27 qubits: 2 GiB state (8 GiB peak), ~2.5 s per gate x 132 gates in numpy on 2 cores"),
    ("small/adder_n10/adder_n10.qasm", STATE, None),
    ("small/adder_n4/adder_n4.qasm", STATE, None),
    ("small/basis_change_n3/basis_change_n3.qasm", STATE, None),
    ("small/basis_trotter_n4/basis_test_n4.qasm", STATE, None),
    ("small/basis_trotter_n4/basis_trotter_n4.qasm", STATE, None),
    ("small/bb84_n8/bb84_n8.qasm", COUNTS, None),
    ("small/bell_n4/bell_n4.qasm", STATE, None),
    ("small/cat_state_n4/cat_state_n4.qasm", STATE, None),
    ("small/deutsch_n2/deutsch_n2.qasm", STATE, None),
    ("small/dnn_n2/dnn_n2.qasm", STATE, None),
    ("small/dnn_n8/dnn_n8.qasm", STATE, None),
    ("small/error_correctiond3_n5/error_correctiond3_n5.qasm", STATE, None),
    ("small/fredkin_n3/fredkin_n3.qasm", STATE, None),
    ("small/grover_n2/grover_n2.qasm", STATE, None),
    ("small/hhl_n10/hhl_n10.qasm", PARSE_ERROR, None),
    ("small/hhl_n7/hhl_n7.qasm", STATE, None),
    ("small/hs4_n4/hs4_n4.qasm", STATE, None),
    ("small/inverseqft_n4/inverseqft_n4.qasm", STATE, None),
    ("small/ipea_n2/ipea_n2.qasm", COUNTS, None),
    ("small/ising_n10/ising_n10.qasm", STATE, None),
    ("small/iswap_n2/iswap_n2.qasm", STATE, None),
    ("small/linearsolver_n3/linearsolver_n3.qasm", STATE, None),
    ("small/lpn_n5/lpn_n5.qasm", STATE, None),
    ("small/pea_n5/pea_n5.qasm", STATE, None),
    ("small/qaoa_n3/qaoa_n3.qasm", STATE, None),
    ("small/qaoa_n6/qaoa_n6.qasm", STATE, None),
    ("small/qec_en_n5/qec_en_n5.qasm", STATE, None),
    ("small/qec_sm_n5/qec_sm_n5.qasm", STATE, None),
    ("small/qft_n4/qft_n4.qasm", STATE, None),
    ("small/qpe_n9/qpe_n9.qasm", STATE, None),
    ("small/qrng_n4/qrng_n4.qasm", STATE, None),
    ("small/quantumwalks_n2/quantumwalks_n2.qasm", STATE, None),
    ("small/sat_n7/sat_n7.qasm", STATE, None),
    ("small/shor_n5/shor_n5.qasm", COUNTS, None),
    ("small/simon_n6/simon_n6.qasm", STATE, None),
    ("small/teleportation_n3/teleportation_n3.qasm", STATE, None),
    ("small/toffoli_n3/toffoli_n3.qasm", STATE, None),
    ("small/variational_n4/variational_n4.qasm", STATE, None),
    ("small/vqe_n4/vqe_n4.qasm", STATE, None),
    ("small/vqe_uccsd_n4/vqe_uccsd_n4.qasm", PARSE_ERROR, None),
    ("small/vqe_uccsd_n6/vqe_uccsd_n6.qasm", PARSE_ERROR, None),
    ("small/vqe_uccsd_n8/vqe_uccsd_n8.qasm", PARSE_ERROR, None),
    ("small/wstate_n3/wstate_n3.qasm", STATE, None),
]

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
    ]


@needs_corpus
def test_the_list_covers_the_whole_corpus():
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
