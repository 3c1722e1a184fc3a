"""The package's layering: imports point down only, there are no import cycles, and the on-device
runtime imports neither torch nor the onnx package.

The graph is read from the source (every `import` statement, including the ones inside functions:
an import deferred to dodge a cycle is still a cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import edge_albert

PACKAGE = Path(edge_albert.__file__).parent

# Bottom first. A module may import its own layer (without cycles) and any layer below it.
LAYERS: list[set[str]] = [
    # shared helpers: no pipeline stage
    {"edge_albert", "errors", "jsonfile", "staging", "progress", "cache", "system_tools", "isolated_env", "checksums",
     "machine", "metrics", "entity_tags", "answer_spans", "tasks", "tokenization", "js_packages"},
    {"model", "data"},
    # training runs on model and data; the runtime adapters open model files (torch opens a checkpoint)
    {"training", "runtimes"},
    {"packaging"},
    # the on-device runtime reads bundles and runs them through the adapters
    {"on_device", "runtime"},
    {"targets"},
    # validation runs every artifact: adapters, bundles, targets
    {"validation"},
    # converters check their outputs with validation.compare
    {"converters"},
    # compress: quantization exports and compares; pruning recovers by training
    {"quantization"},
    {"pipeline"},
    {"cli"},
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("edge_albert", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    # `from package import module` imports the module
    return [f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target for alias in node.names]


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(module, node):
                    if name.split(".")[0] != "edge_albert":
                        continue
                    while name not in MODULES:
                        name = name.rsplit(".", 1)[0]
                    if name != module:
                        deps.add(name)
        graph[module] = deps
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")
    unit = parts[1] if len(parts) > 1 else "edge_albert"
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{module} is in no layer: add `{unit}` to LAYERS in {__file__}")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
                  for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_import_points_up() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    graph = import_graph()
    graph["edge_albert.errors"] = graph["edge_albert.errors"] | {"edge_albert.cli"}
    assert upward_imports(graph) == ["edge_albert.errors (layer 0) imports edge_albert.cli (layer 10)"]
    assert any({"edge_albert.cli", "edge_albert.errors"} <= set(c) for c in cycles(graph))
    # a package importing its own layer is allowed, a cycle inside one layer is not
    graph = import_graph()
    graph["edge_albert.staging"] = graph["edge_albert.staging"] | {"edge_albert.tokenization"}
    assert upward_imports(graph) == []
    assert ["edge_albert.staging", "edge_albert.tokenization"] in cycles(graph)


def test_the_graph_sees_imports_inside_functions() -> None:
    # prune_checkpoint defers its training imports into the function body
    assert "edge_albert.training.recipes" in import_graph()["edge_albert.quantization.pruning"]


@pytest.mark.parametrize("module", ["edge_albert.on_device", "edge_albert.packaging.manifest", "edge_albert.runtimes"])
def test_the_on_device_runtime_imports_no_torch_and_no_onnx(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'onnx', 'tensorflow', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_the_former_name_of_the_on_device_runtime_still_works_and_says_where_it_went() -> None:
    code = ("import warnings; warnings.simplefilter('error')\n"
            "try:\n    import edge_albert.runtime\nexcept DeprecationWarning as w:\n    print(w)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "edge_albert.runtime is now edge_albert.on_device; import from there"
    import edge_albert.on_device
    import edge_albert.runtime

    assert edge_albert.runtime.open_predictor is edge_albert.on_device.open_predictor
