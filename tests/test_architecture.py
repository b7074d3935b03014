"""Imports run one way: data, models <- binary <- deploy <- engine <- detect <- cli.

The test reads every module of the package with ``ast`` (imports at module level *and* inside
functions: a function-level import is still a dependency, only a later one), builds the graph
of ``bifsmn`` submodules, and fails on any cycle and on any import of a higher layer by a lower
one. The layer of a module is the first entry of :data:`LAYERS` whose prefix it has.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import bifsmn

PACKAGE = Path(bifsmn.__file__).resolve().parent

#: lowest first; a module may import its own layer and the ones before it, never a later one.
#: ``bifsmn`` itself (the package root, lazy re-exports for users) is not layered.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("bifsmn.errors", "bifsmn.outputs", "bifsmn.blocks", "bifsmn.audio",
              "bifsmn.plots", "bifsmn.signatures", "bifsmn.pcm", "bifsmn.lazy", "bifsmn.rates")),
    ("data", ("bifsmn.data",)),
    ("models", ("bifsmn.binary.registry", "bifsmn.binary.quantizers", "bifsmn.binary.layers",
                "bifsmn.binary.methods", "bifsmn.binary", "bifsmn.models")),
    ("binary", ("bifsmn.binary.convert", "bifsmn.train.checkpoint", "bifsmn.train.config")),
    ("deploy", ("bifsmn.deploy",)),
    ("engine", ("bifsmn.engine",)),
    ("train", ("bifsmn.train", "bifsmn.distill", "bifsmn.recipes", "bifsmn.evaluate",
               "bifsmn.paired", "bifsmn.scale_report", "bifsmn.compare", "bifsmn.cards",
               "bifsmn.storage_search")),
    ("detect", ("bifsmn.detect",)),
    ("app", ("bifsmn.quickstart",)),
    ("cli", ("bifsmn.cli", "bifsmn.engine.cli", "bifsmn.detect.cli")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """bifsmn modules ``name`` imports anywhere in its file (``from x import y`` counts as
    ``x.y`` when that is a module, else ``x``)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                       for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import bifsmn.x.y` of a name inside module x
                t = t.rpartition(".")[0]
            if t.startswith("bifsmn") and t != name and t != "bifsmn":
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {n: imports_of(n, p, known) for n, p in mods.items()}


def layer(name: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for pre in prefixes:
            # the longest matching prefix wins (bifsmn.engine.cli is cli, not engine)
            matches = name == pre or name.startswith(pre + ".")
            if matches and (best is None or len(pre) > best[1]):
                best = (i, len(pre))
    assert best is not None, f"{name} has no layer in tests/test_architecture.py LAYERS"
    return best[0]


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if color.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if color.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        color[n] = 2
        return None

    for n in sorted(g):
        if color.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def test_the_walker_sees_module_and_function_level_imports() -> None:
    g = graph()
    assert "bifsmn.deploy.fold" in g["bifsmn.engine.export"]  # module level
    assert "bifsmn.engine.export" in g["bifsmn.engine"]  # inside a function (lazy: torch)
    assert len(g) > 50


def test_no_import_cycles() -> None:
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_layers_only_import_downwards() -> None:
    bad = []
    for name, deps in sorted(graph().items()):
        if name == "bifsmn":
            continue
        for d in sorted(deps):
            if layer(d) > layer(name):
                bad.append(f"{name} ({LAYERS[layer(name)][0]}) imports {d} "
                           f"({LAYERS[layer(d)][0]})")
    assert not bad, "\n".join(bad)


def test_no_library_module_imports_the_cli() -> None:
    clis = {n for n in graph() if n != "bifsmn" and layer(n) == len(LAYERS) - 1}
    users = {n: deps & clis for n, deps in graph().items()
             if n not in clis and n != "bifsmn" and deps & clis}
    assert not users, users


def test_layer_order_is_the_documented_one() -> None:
    names = [n for n, _ in LAYERS]
    order = ["data", "models", "binary", "deploy", "engine", "detect", "cli"]
    assert [n for n in names if n in order] == order


@pytest.mark.parametrize("package", ["bifsmn", "bifsmn.data", "bifsmn.detect", "bifsmn.models",
                                     "bifsmn.engine"])
def test_every_exported_name_resolves(package: str) -> None:
    # the docs import from these packages: a name in __all__ that does not load is a broken
    # example (bifsmn.data.SpeechCommands was named in README before it was exported)
    mod = importlib.import_module(package)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{package}.{name}"


def test_plots_leave_the_callers_matplotlib_alone(tmp_path: Path) -> None:
    # a notebook's backend and pyplot's figure registry are the caller's: plotting from the
    # library (training curves, DET plots, bench charts) goes through Figure, not pyplot
    import subprocess
    import sys

    code = ("import sys, matplotlib\n"
            "matplotlib.use('svg')\n"
            "from bifsmn.plots import plot_curves\n"
            "h = [{'epoch': e, 'train_loss': 1.0 / e, 'train_acc': 0.5, 'val_acc_8': 0.6}"
            " for e in (1, 2)]\n"
            f"plot_curves(h, {str(tmp_path / 'c.png')!r})\n"
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
