"""The package's folders are layers and imports go one way: a module may import its own folder and the
folders below it, never one above it, and the import graph has no cycle (docs/architecture.md, "Layers").

The graph is read from the source with ``ast`` (every ``import``, lazy ones inside functions included),
so the test needs none of the package's dependencies and runs in a fraction of a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "scorehmr_ros"

#: Folders from the bottom up; a folder may import folders at its own rank or below, and folders of one
#: rank never import each other (they are siblings over the same base).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("base",),
    ("geometry",),
    ("body",),
    ("assets",),
    ("diffusion",),
    ("fitting", "image_prior", "perception"),
    ("accel",),  # runs the networks of the layers below (the denoiser, PARE) on engines
    ("pipeline",),
    ("sim",),
    ("training",),
    ("ros",),
    ("cli",),
)
#: Only the ROS layer talks to ROS (and the CLI only through it).
ROS_MODULES = ("rclpy", "rosidl_runtime_py", "sensor_msgs", "geometry_msgs", "std_msgs", "visualization_msgs",
               "tf2_msgs", "diagnostic_msgs", "builtin_interfaces", "lifecycle_msgs", "rcl_interfaces",
               "scorehmr_ros.msg")
#: The test bed's ROS face (the simulated camera rig node and the in-process demo graph) is the only ROS
#: code that may import the simulator.
ROS_MAY_IMPORT_SIM = "ros.testbed"


def _rank(folder: str) -> int:
    for rank, folders in enumerate(LAYERS):
        if folder in folders:
            return rank
    raise AssertionError(f"scorehmr_ros/{folder}/ is in no layer of LAYERS; add it there and to docs/architecture.md")


def module_name(path: Path, package_root: Path) -> str:
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module name an ``import`` statement in ``path`` names (``from a import b`` gives ``a.b`` and ``a``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph(package_root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(internal graph: module -> package modules it imports, external: module -> other top-level names)."""
    modules = {module_name(p, package_root): p for p in package_root.rglob("*.py")}
    internal: dict[str, set[str]] = {}
    external: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = imports_of(path)
        internal[name] = {n for n in found if n in modules and n != name and n != "scorehmr_ros"}
        external[name] = {n for n in found if n not in modules}
    return internal, external


def folder_of(module: str) -> str:
    """``scorehmr_ros.geometry.camera`` -> ``geometry`` (a folder's own ``__init__`` belongs to it)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_violations(package_root: Path) -> list[str]:
    internal, external = import_graph(package_root)
    problems = [f"scorehmr_ros/{path.name}: a module at the package top; every module belongs to a layer folder"
                for path in sorted(package_root.glob("*.py")) if path.name != "__init__.py"]
    for module, targets in sorted(internal.items()):
        folder = folder_of(module)
        if not folder:
            continue
        for target in sorted(targets):
            target_folder = folder_of(target)
            if not target_folder or target_folder == folder:
                continue
            if _rank(target_folder) > _rank(folder):
                problems.append(f"{module} imports {target}: {folder}/ is below {target_folder}/")
            elif _rank(target_folder) == _rank(folder):
                problems.append(f"{module} imports {target}: {folder}/ and {target_folder}/ are siblings")
            elif (target_folder == "sim" and folder == "ros"
                  and not module.startswith(f"scorehmr_ros.{ROS_MAY_IMPORT_SIM}")):
                problems.append(f"{module} imports {target}: in ros/ only {ROS_MAY_IMPORT_SIM} may use the simulator")
        if folder != "ros":
            for name in sorted(external[module]):
                if any(name == ros or name.startswith(ros + ".") for ros in ROS_MODULES):
                    problems.append(f"{module} imports {name}: only ros/ talks to ROS")
    return problems


def import_cycles(package_root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle to break."""
    graph, _ = import_graph(package_root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_imports_follow_the_layers():
    problems = layer_violations(PACKAGE_ROOT)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_import_cycles():
    cycles = import_cycles(PACKAGE_ROOT)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def planted(tmp_path):
    """A copy of the real package to plant wrong imports in."""
    import shutil

    root = tmp_path / "scorehmr_ros"
    shutil.copytree(PACKAGE_ROOT, root, ignore=shutil.ignore_patterns("__pycache__", "data"))
    return root


def test_the_checker_catches_a_planted_upward_import(planted):
    _write(planted, "geometry/planted.py", "from scorehmr_ros.pipeline.tracking import Tracker\n")
    problems = [p for p in layer_violations(planted) if "planted" in p]
    assert problems == ["scorehmr_ros.geometry.planted imports scorehmr_ros.pipeline.tracking: "
                        "geometry/ is below pipeline/"]


def test_the_checker_catches_lazy_sibling_and_rclpy_imports(planted):
    _write(planted, "fitting/planted.py", "def f():\n    import rclpy\n    from scorehmr_ros.perception import front\n")
    problems = [p for p in layer_violations(planted) if "planted" in p]
    assert len(problems) == 3  # the package scorehmr_ros.perception, its module front, rclpy
    assert any("fitting.planted imports scorehmr_ros.perception.front" in p and "siblings" in p for p in problems)
    assert any("fitting.planted imports rclpy: only ros/" in p for p in problems)


def test_the_checker_catches_a_planted_cycle(planted):
    _write(planted, "body/planted_a.py", "from scorehmr_ros.body import planted_b\n")
    _write(planted, "body/planted_b.py", "import scorehmr_ros.body.planted_a\n")
    assert import_cycles(planted) == [["scorehmr_ros.body.planted_a", "scorehmr_ros.body.planted_b"]]
