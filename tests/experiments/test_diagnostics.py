from __future__ import annotations

from types import SimpleNamespace

from qsim_topo.experiments.diagnostics import diagnose


def _report(**overrides):
    base = dict(
        state_fidelity=1.0, norm=1.0, frobenius_error=1e-14, aligned_frobenius_error=1e-14,
        unitary_norm_ratio=1.0, haar_input_fidelity=1.0, xeb=1.0, xeb_ideal_mean=1.0,
        xeb_ideal_std=0.05,
    )
    base.update(overrides)
    return SimpleNamespace(**base)


def test_clean_report_has_no_warnings():
    assert diagnose(_report()) == []


def test_each_artifact_is_named():
    assert "global scale" in diagnose(_report(frobenius_error=1.1, aligned_frobenius_error=1e-6))[0]
    assert "|0...0> column" in diagnose(_report(haar_input_fidelity=0.3))[0]
    assert "norm drift" in diagnose(_report(norm=0.8))[0]
    msgs = diagnose(_report(state_fidelity=0.5, haar_input_fidelity=0.5, xeb=1.02))
    assert len(msgs) == 1 and "XEB does not certify fidelity" in msgs[0]


def test_honest_large_errors_are_not_called_artifacts():
    # Large but unaligned error with matching fidelities: a plain bad approximation.
    assert diagnose(_report(state_fidelity=0.2, haar_input_fidelity=0.21,
                            frobenius_error=1.2, aligned_frobenius_error=0.9, xeb=0.1)) == []
