"""`import qsim_topo` stays light, and imports point one way down the house (STYLE.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qsim_topo"

# Order of the house: a module may import only what stands above it (or itself).
ORDER = [
    "_version",
    "errors",
    "xp",
    "engines",
    "gates",
    "circuit",
    "layers",
    "sim",
    "metrics",
    "experiments",
    "qiskit",
    "cli",
    "__init__",
    "__main__",
]


def test_import_does_not_load_heavy_dependencies():
    code = (
        "import sys, qsim_topo, qsim_topo.engines, qsim_topo.sim, qsim_topo.metrics, "
        "qsim_topo.experiments, qsim_topo.cli.main\n"
        "heavy = [m for m in ('cupy', 'qiskit', 'matplotlib', 'torch', 'dask', 'numba')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import qsim_topo loaded {out.stdout.strip()}"


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_tops(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    tops = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "qsim_topo":
                names = [f"qsim_topo.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "qsim_topo" and len(parts) > 1:
                tops.add(parts[1])
    return tops


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_house(path):
    me = _top(path)
    assert me in ORDER, f"{me} is not placed in the house order of tests/test_imports.py"
    rank = ORDER.index(me)
    for top in _imported_tops(path):
        assert top in ORDER, f"{path.name} imports qsim_topo.{top}, unknown to the house order"
        assert ORDER.index(top) <= rank, (
            f"{path.relative_to(PACKAGE)} ({me}) imports qsim_topo.{top}, which stands below it"
        )


# Compiled-kernel modules: numba compiles and caches module-level functions only, so these
# import numba at module level; they are themselves imported only inside functions (checked
# below), after numba_available().
LAZY_KERNEL_MODULES = {"qsim_topo.sim._numba_sequence": "numba"}


def _module_name(path):
    return ".".join(("qsim_topo", *path.relative_to(PACKAGE).with_suffix("").parts))


def test_heavy_imports_only_where_allowed():
    """qiskit only under qsim_topo/qiskit (and lazily in cli); cupy only lazily (in functions)."""
    for path in MODULES:
        tree = ast.parse(path.read_text())
        allowed = LAZY_KERNEL_MODULES.get(_module_name(path))
        for node in tree.body:  # module level only: lazy imports inside functions are fine
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert name not in LAZY_KERNEL_MODULES, (
                    f"{path} imports the compiled-kernel module {name} at module level"
                )
                if top == allowed:
                    continue
                assert top not in ("cupy", "torch", "matplotlib", "dask", "numba"), (
                    f"{path} imports {top} at module level"
                )
                if top == "qiskit":
                    assert _top(path) == "qiskit", f"{path} imports qiskit outside qsim_topo/qiskit"
