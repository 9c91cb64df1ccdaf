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
    "validation",
    "xp",
    "engines",
    "gates",
    "classical",
    "circuit",
    "openqasm",
    "layers",
    "families",
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
LAZY_KERNEL_MODULES = {
    "qsim_topo.sim._numba_sequence": "numba",
    "qsim_topo.sim._numba_measure": "numba",
    "qsim_topo.sim._numba_gates": "numba",
}


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


# Order inside a package: a module may import only modules of its package above it (or
# itself); every module of the package is placed, and every name placed is a module. A new
# module goes where its imports put it.
SUBORDERS = {
    "sim": [
        "_numba_gates",
        "apply",
        "_numba_sequence",
        "numba_kernels",
        "_numba_measure",
        "measure",
        "chunks",
        "custatevec",
        "_cuda_block",
        "gpu_kernels",
        "paths",
        "kernel_registry",
        "kernels",
        "planning",
        "fusion",
        "passes",
        "memory",
        "results",
        "branches",
        "executor",
        "simulators",
        "__init__",
    ],
    "qiskit": [
        "errors",
        "instructions",
        "classical",
        "matrices",
        "convert",
        "execute",
        "target",
        "results",
        "job",
        "options",
        "backend",
        "primitives",
        "noise",
        "qasm_scan",
        "qasm",
        "verify",
        "__init__",
    ],
}

# Known upward imports, each with the branch that removes it. gpu_kernels.apply_block_gpu
# still falls back to the chunked path of kernels for blocks wider than its CUDA kernel; the
# gpu branch drops that fallback (kernels never hands it such a block): then delete the entry.
KNOWN_CIRCLES: set[tuple[str, str]] = set()


def _imported_modules(path: Path) -> set[str]:
    """Dotted names (below qsim_topo) of the modules ``path`` imports, at any depth."""
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            # `from qsim_topo.sim import executor`: a submodule, not a name in __init__.
            base = PACKAGE.joinpath(*node.module.split(".")[1:])
            names += [
                f"{node.module}.{a.name}" for a in node.names if (base / f"{a.name}.py").exists()
            ]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "qsim_topo" and len(parts) > 1:
                out.add(".".join(parts[1:]))
    return out


@pytest.mark.parametrize("package", sorted(SUBORDERS))
def test_order_names_exactly_the_modules_of_the_package(package):
    on_disk = {p.stem for p in (PACKAGE / package).glob("*.py")}
    named = SUBORDERS[package]
    assert len(set(named)) == len(named), f"{package}: a module is placed twice"
    missing = sorted(set(named) - on_disk)
    assert not missing, f"SUBORDERS[{package!r}] names modules that do not exist: {missing}"
    unplaced = sorted(on_disk - set(named))
    assert not unplaced, f"place qsim_topo/{package}/{unplaced} in SUBORDERS[{package!r}]"


@pytest.mark.parametrize(
    "path",
    [p for pkg in SUBORDERS for p in sorted((PACKAGE / pkg).glob("*.py"))],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_imports_point_down_inside_the_package(path):
    package, me = path.parent.name, path.stem
    order = SUBORDERS[package]
    if me not in order:
        pytest.fail(f"{package}/{me}.py is not placed in SUBORDERS")
    for name in _imported_modules(path):
        parts = name.split(".")
        if parts[0] != package or len(parts) < 2:
            continue
        other = parts[1]
        if other == me or (f"{package}.{me}", f"{package}.{other}") in KNOWN_CIRCLES:
            continue
        assert other in order, f"{path.name} imports {package}.{other}, not in SUBORDERS"
        assert order.index(other) < order.index(me), (
            f"qsim_topo/{package}/{me}.py imports {package}.{other}, which stands below it"
        )


def test_known_circles_still_exist():
    """An entry of KNOWN_CIRCLES that no longer exists is deleted (the circle is gone)."""
    for importer, imported in KNOWN_CIRCLES:
        path = PACKAGE.joinpath(*importer.split(".")).with_suffix(".py")
        if imported not in _imported_modules(path):
            pytest.fail(f"{importer} no longer imports {imported}: delete it from KNOWN_CIRCLES")


def test_executor_and_simulators_load_no_qiskit():
    """The core runs without the Qiskit adapter: importing it loads no qiskit (nor numba)."""
    code = (
        "import sys\n"
        "import qsim_topo.circuit, qsim_topo.gates, qsim_topo.sim.executor\n"
        "import qsim_topo.sim.passes, qsim_topo.sim.kernels\n"
        "from qsim_topo.sim import StatevectorSimulator, UnitarySimulator\n"
        "from qsim_topo.circuit import gate, MeasureOp\n"
        "r = StatevectorSimulator().run([gate('h', 0), MeasureOp(0, 0)], 1, shots=8, seed=1)\n"
        "assert sum(r.counts.values()) == 8\n"
        "print(','.join(m for m in ('qiskit', 'qiskit_aer', 'cupy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the core loaded {out.stdout.strip()}"


# Names moved out of a module by a split stay importable from where callers found them, as
# the same objects (not copies that could drift apart).
MOVED = [
    ("qsim_topo.circuit", "qsim_topo.classical", "ClassicalMemory"),
    ("qsim_topo.circuit", "qsim_topo.classical", "BitCondition"),
    ("qsim_topo.circuit", "qsim_topo.classical", "RegisterCondition"),
    ("qsim_topo.sim.executor", "qsim_topo.sim.results", "ExecutionResult"),
    ("qsim_topo.sim.executor", "qsim_topo.sim.branches", "apply_matrix"),
    ("qsim_topo.sim.executor", "qsim_topo.sim.branches", "marginal_probabilities"),
    ("qsim_topo.sim.executor", "qsim_topo.sim.branches", "MAX_BACKWARD_JUMPS"),
    ("qsim_topo.sim.kernels", "qsim_topo.sim.kernel_registry", "KERNELS"),
    ("qsim_topo.sim.kernels", "qsim_topo.sim.kernel_registry", "BlockKernel"),
    ("qsim_topo.sim.kernels", "qsim_topo.sim.kernel_registry", "register_kernel"),
    ("qsim_topo.qiskit.convert", "qsim_topo.qiskit.matrices", "MAX_DENSE_DEFINED_QUBITS"),
    ("qsim_topo.qiskit.qasm", "qsim_topo.qiskit.qasm_scan", "QasmLimits"),
    ("qsim_topo.qiskit.qasm", "qsim_topo.qiskit.qasm_scan", "scan_qasm"),
    ("qsim_topo.qiskit.qasm", "qsim_topo.qiskit.qasm_scan", "qasm_version"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED, ids=lambda x: x)
def test_moved_names_are_re_exported(old, new, name):
    import importlib

    if old.startswith("qsim_topo.qiskit"):
        pytest.importorskip("qiskit")
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    assert getattr(old_module, name) is getattr(new_module, name)
    assert name in old_module.__all__, f"{old} re-exports {name} but does not list it"
