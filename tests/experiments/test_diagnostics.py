from __future__ import annotations

from types import SimpleNamespace

from qsim_topo.experiments.diagnostics import (
    MIN_TIMED_S,
    TIME_FACTOR,
    TIME_MARGIN,
    Z_SCORE,
    diagnose,
    norm_drift,
    time_claim,
)


def _report(**overrides):
    base = dict(
        state_fidelity=1.0, norm=1.0, frobenius_error=1e-14, aligned_frobenius_error=1e-14,
        unitary_norm_ratio=1.0, process_fidelity=1.0, haar_states=16, haar_input_fidelity=1.0,
        haar_input_fidelity_se=1e-17, haar_input_fidelity_expected=1.0, probe_excess=0.0,
        probe_excess_se=1e-17, column0_log_z=0.3,
        xeb=1.0, xeb_ideal_mean=1.0, xeb_ideal_std=0.05, flops_fraction=1.0, time_ratio=1.0,
        exact_layer_time_s=1.0,
    )
    base.update(overrides)
    return SimpleNamespace(**base)


def test_clean_report_has_no_warnings():
    assert diagnose(_report()) == []


def test_each_artifact_is_named():
    assert "global scale" in diagnose(_report(frobenius_error=1.1, aligned_frobenius_error=1e-6))[0]
    msg = diagnose(_report(haar_input_fidelity=0.3, haar_input_fidelity_se=0.01,
                           probe_excess=0.0, probe_excess_se=0.01, column0_log_z=40.0))
    assert len(msg) == 1 and "|0...0> column" in msg[0] and "70 standard errors" in msg[0]
    assert "norm drift" in diagnose(_report(norm=0.8))[0]
    msgs = diagnose(_report(state_fidelity=0.5, haar_input_fidelity=0.5, xeb=1.02))
    assert len(msgs) == 1 and "XEB does not certify fidelity" in msgs[0]


def test_honest_large_errors_are_not_called_artifacts():
    # Large but unaligned error with matching fidelities: a plain bad approximation.
    assert diagnose(_report(state_fidelity=0.2, haar_input_fidelity=0.21,
                            haar_input_fidelity_se=0.02,
                            frobenius_error=1.2, aligned_frobenius_error=0.9, xeb=0.1,
                            probe_excess=-0.01, probe_excess_se=0.02)) == []


def test_column_gap_counts_in_standard_errors_not_a_fixed_threshold():
    """A 0.03 gap is flagged when the probe SE is 0.005 (6 SE), not when it is 0.01 (3 SE);
    and not when column 0 is a typical basis column (an honest engine's single draw)."""
    common = dict(state_fidelity=1.0, haar_input_fidelity=0.97, probe_excess=0.001,
                  probe_excess_se=0.005)
    flagged = diagnose(_report(haar_input_fidelity_se=0.005, column0_log_z=30.0, **common))
    assert len(flagged) == 1 and "6 standard errors (SE 0.005) of the 16-probe" in flagged[0]
    assert diagnose(_report(haar_input_fidelity_se=0.01, column0_log_z=30.0, **common)) == []
    assert diagnose(_report(haar_input_fidelity_se=0.005, column0_log_z=1.5, **common)) == []
    assert Z_SCORE < 6.0


def test_probes_inconsistent_with_the_process_fidelity_are_flagged():
    """Probes all exact while the whole product is almost random: an engine that knew them."""
    r = _report(process_fidelity=3e-4, haar_input_fidelity=1.0, haar_input_fidelity_se=0.0,
                haar_input_fidelity_expected=(1024 * 3e-4 + 1) / 1025, probe_excess=0.9987,
                probe_excess_se=0.0)
    msgs = diagnose(r)
    assert len(msgs) == 1 and "probe states are treated specially" in msgs[0]
    assert "(d F_pro + 1)/(d + 1) = 0.001275" in msgs[0]
    # Within 4 standard errors, or on the worse side: not flagged.
    assert diagnose(_report(probe_excess=-0.5, probe_excess_se=0.01)) == []
    assert diagnose(_report(probe_excess=0.03, probe_excess_se=0.01, haar_input_fidelity=0.5,
                            state_fidelity=0.5, haar_input_fidelity_se=0.01, xeb=0.4)) == []


def test_time_claim_is_noise_tolerant():
    assert time_claim(1.0, 0.1, 1.0) is not None  # declares 0.1, takes exact's time
    assert "declares 0.1" in time_claim(1.0, 0.1, 1.0)
    assert time_claim(TIME_FACTOR * 0.1 + TIME_MARGIN - 0.01, 0.1, 1.0) is None
    assert time_claim(1.0, 0.1, MIN_TIMED_S / 2) is None  # too little time to judge
    assert time_claim(float("nan"), 0.1, 1.0) is None
    assert "compute claim" in diagnose(_report(flops_fraction=0.1, time_ratio=1.05))[0]


def test_norm_drift_names_zero_and_non_finite_states():
    assert norm_drift(1.0) is None and norm_drift(1.0 + 1e-5) is None
    assert "vanished" in norm_drift(0.0)
    assert "inf" in norm_drift(float("inf"))
    assert "norm drift" in norm_drift(1e20)
