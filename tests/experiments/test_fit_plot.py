from __future__ import annotations

import pytest

from qsim_topo.errors import QsimTopoError
from qsim_topo.experiments.fit import fit_rows
from qsim_topo.experiments.fit_plot import write_fit_plot
from tests.experiments.test_fit import _trajectory_rows


def test_fit_plot_with_hardware_references(tmp_path):
    pytest.importorskip("matplotlib")
    fits = fit_rows(_trajectory_rows(0.06, seeds=2))
    path = write_fit_plot(fits, tmp_path / "f.png", references=[("device", 0.006)])
    assert path.stat().st_size > 1000


def test_fit_plot_refuses_a_metric_nobody_carries(tmp_path):
    pytest.importorskip("matplotlib")
    fits = fit_rows(_trajectory_rows(0.06, seeds=2))
    with pytest.raises(QsimTopoError, match="process_fidelity"):
        write_fit_plot(fits, tmp_path / "f.png", metric="process_fidelity")
