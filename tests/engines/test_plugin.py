"""A third-party engine declared through the ``qsim_topo.engines`` entry-point group.

The test builds, in a temporary directory, what ``pip install`` of a small plug-in package
would leave in site-packages: its module and a ``<name>-0.1.dist-info`` directory with METADATA
and entry_points.txt. Then it proves the registry finds the engine and the CLI runs with it.
"""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest

from qsim_topo.cli.main import main
from qsim_topo.engines import base
from qsim_topo.engines.base import (
    ENTRY_POINT_GROUP,
    available_engines,
    describe_engine,
    get_engine,
    unregister_engine,
)

PLUGIN_NAME = "plugin-halfexact"
MODULE = "qsim_topo_test_plugin_engine"

MODULE_SOURCE = textwrap.dedent(
    '''
    """A plug-in engine living outside qsim_topo: the exact product, computed in two halves."""

    import numpy as np


    class HalfExactEngine:
        """Exact product computed as the sum of two half-inner-dimension products."""

        name = "plugin-halfexact"
        exact = True
        family = "plug-in"

        def __init__(self, *, split=0.5):
            if not 0 < split < 1:
                raise ValueError("split must lie in (0, 1)")
            self.split = split
            self.options = {"split": split}

        def matmul(self, a, b, /):
            k = a.shape[1]
            h = max(1, int(k * self.split))
            return np.matmul(a[:, :h], b[:h, :]) + np.matmul(a[:, h:], b[h:, :])

        def flops_fraction(self, m, k, n):
            return 1.0 + m * n / (m * k * n)
    '''
)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Install the plug-in into tmp_path, make the registry read it, clean up afterwards."""
    (tmp_path / f"{MODULE}.py").write_text(MODULE_SOURCE, encoding="utf-8")
    dist = tmp_path / "qsim_topo_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qsim_topo_test_plugin\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n{PLUGIN_NAME} = {MODULE}:HalfExactEngine\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    unregister_engine(PLUGIN_NAME)
    base._load_entry_points(force=True)
    try:
        yield PLUGIN_NAME
    finally:
        unregister_engine(PLUGIN_NAME)
        sys.modules.pop(MODULE, None)


def test_plugin_is_listed_and_built_by_name(plugin, rng):
    assert plugin in available_engines()
    info = describe_engine(plugin)
    assert info.family == "plug-in" and info.exact is True and "split" in info.options
    engine = get_engine(plugin, split=0.25)
    a = rng.standard_normal((5, 8)) + 1j * rng.standard_normal((5, 8))
    b = rng.standard_normal((8, 3)) + 1j * rng.standard_normal((8, 3))
    assert np.allclose(engine.matmul(a, b), a @ b, rtol=1e-13, atol=1e-13)
    assert type(engine).__module__ == MODULE  # really loaded from the plug-in package


def test_cli_runs_with_the_plugin(plugin, capsys):
    code = main(["layers", "--qubits", "3", "--depth", "2", "--engine", plugin, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(captured.out)
    assert report["engine"] == plugin
    assert report["state_fidelity"] == pytest.approx(1.0, abs=1e-12)  # an exact plug-in


def test_cli_lists_the_plugin(plugin, capsys):
    assert main(["engines"]) == 0
    assert plugin in capsys.readouterr().out


def test_registry_forgets_the_plugin_after_cleanup(plugin):
    unregister_engine(plugin)
    assert plugin not in available_engines()


# --------------------------------------------------------------------------- impostors

IMPOSTOR_MODULE = "qsim_topo_test_impostor_engine"
IMPOSTOR_SOURCE = textwrap.dedent(
    '''
    """A hostile plug-in: claims the name "exact" and returns a wrong product."""

    import numpy as np


    class ImpostorEngine:
        name = "exact"
        exact = True
        family = "plug-in"

        def matmul(self, a, b, /):
            return 0.5 * np.matmul(a, b)

        def flops_fraction(self, m, k, n):
            return 1.0
    '''
)


def test_an_entry_point_cannot_shadow_a_builtin_engine(tmp_path, monkeypatch):
    """A plug-in declaring itself as "exact" is ignored, with a warning naming it."""
    (tmp_path / f"{IMPOSTOR_MODULE}.py").write_text(IMPOSTOR_SOURCE, encoding="utf-8")
    dist = tmp_path / "qsim_topo_test_impostor-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: qsim_topo_test_impostor\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nexact = {IMPOSTOR_MODULE}:ImpostorEngine\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.warns(RuntimeWarning, match="built-in"):
            base._load_entry_points(force=True)
        engine = get_engine("exact")
        assert type(engine).__module__ == "qsim_topo.engines.exact"
        a = np.arange(4.0).reshape(2, 2)
        assert np.array_equal(engine.matmul(a, a), a @ a)
    finally:
        sys.modules.pop(IMPOSTOR_MODULE, None)


def test_register_engine_refuses_a_builtin_name():
    """Even with replace=True; and built-ins cannot be unregistered to make room."""

    class Impostor:
        name = "exact"
        exact = True

        def matmul(self, a, b, /):
            return 2.0 * (a @ b)

        def flops_fraction(self, m, k, n):
            return 1.0

    for name in ("exact", "fp32", "cr-sampling"):
        with pytest.raises(ValueError, match="built-in"):
            base.register_engine(name, Impostor, replace=True)
        with pytest.raises(ValueError, match="built-in"):
            unregister_engine(name)
    assert type(get_engine("exact")).__name__ == "ExactEngine"


def test_builtin_names_are_exactly_the_shipped_engines():
    shipped = {
        name
        for name, entry in base._REGISTRY.items()
        if str(getattr(entry.factory, "__module__", "")).startswith("qsim_topo.engines.")
    }
    assert shipped == set(base.BUILTIN_ENGINES)
