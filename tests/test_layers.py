"""The package's layers: a module imports only from its own layer or the ones below it.

    base (artifacts, errors, stage_output, devices, tracking, config/, geometry/)
      < data < teachers < model < {train, eval} < registry < cli

train and eval share a rank but never import each other. Every import counts, also one inside
a function (the lazy imports that keep torch out of the launchers) and a relative one;
`importlib.import_module("geovr....")` with a literal name counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "geovr"

RANKS = {"base": 0, "data": 1, "teachers": 2, "model": 3, "train": 4, "eval": 4}
RANKS |= {"registry": 5, "cli": 6}
# Sub-packages of geovr that belong to the base layer; a top-level module is base as well.
BASE_PACKAGES = ("config", "geometry")
# Top-level modules that are not base.
TOP_LEVEL = {"__main__": "cli"}


def layer_of(module: str, root: Path = PACKAGE) -> str:
    """The layer of a dotted module name under geovr (KeyError for an unmapped sub-package)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "base"
    head = parts[1]
    if head in TOP_LEVEL:
        return TOP_LEVEL[head]
    if head in RANKS:
        return head
    if head in BASE_PACKAGES:
        return "base"
    if len(parts) == 2 and not (root / head).is_dir():
        return "base"
    raise KeyError(f"{module}: geovr.{head} has no layer; add it to tests/test_layers.py")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[str, int]]:
    """(geovr module, line) for every import in the file, at any depth."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(anchor + ([module] if module else []))
            # each name may be a module of the package (`from geovr.data import leakage`)
            found += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] == root.name]


def _resolve(name: str, root: Path) -> str:
    """The module a dotted import names: `geovr.model.inputs.prompt` -> `geovr.model.inputs`."""
    parts = name.split(".")
    while len(parts) > 1:
        rel = Path(root.parent, *parts)
        if rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def layer_violations(root: Path) -> list[str]:
    """One line per import against the layer order, e.g.
    `geovr/data/x.py:3: data imports geovr.eval.vsi (eval)`."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        importer = layer_of(module_name(path, root), root)
        for name, line in imported_modules(path, root):
            target = _resolve(name, root)
            imported = layer_of(target, root)
            sideways = importer != imported and RANKS[importer] == RANKS[imported]
            if RANKS[imported] > RANKS[importer] or sideways:
                where = path.relative_to(root.parent)
                problem = f"{where}:{line}: {importer} imports {target} ({imported})"
                if problem not in problems:  # `from m import a, b` names m once
                    problems.append(problem)
    return problems


def test_no_import_goes_against_the_layer_order():
    problems = layer_violations(PACKAGE)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path, PACKAGE))  # raises for an unmapped sub-package


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "geovr"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for directory in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (directory / "__init__.py").touch()
    return root


def test_the_check_sees_backward_sideways_lazy_and_relative_imports(tmp_path):
    root = _package(
        tmp_path,
        {
            "errors.py": "",
            "data/questions.py": "from geovr.eval.vsi import TASKS\nfrom geovr.errors import E\n",
            "eval/vsi.py": "def f():\n    import geovr.train.run\n",
            "train/run.py": "from ..registry import gate\nfrom . import loop\n",
            "train/loop.py": "import importlib\nimportlib.import_module('geovr.cli.main')\n",
            "registry/gate.py": "",
            "cli/main.py": "from geovr.registry.gate import x\nfrom geovr.data import questions\n",
        },
    )
    assert layer_violations(root) == [
        "geovr/data/questions.py:1: data imports geovr.eval.vsi (eval)",
        "geovr/eval/vsi.py:2: eval imports geovr.train.run (train)",
        "geovr/train/loop.py:2: train imports geovr.cli.main (cli)",
        "geovr/train/run.py:1: train imports geovr.registry.gate (registry)",
    ]


def test_an_unknown_sub_package_must_be_given_a_layer(tmp_path):
    root = _package(tmp_path, {"plugins/thing.py": ""})
    with pytest.raises(KeyError, match="geovr.plugins has no layer"):
        layer_violations(root)
