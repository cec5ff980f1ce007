"""The package's layers keep to their side (docs/architecture.md).

* Nothing outside ``ptcalc/model`` imports a private name (``_x``) of the
  model, or a module of it whose name is private: the model's public names
  are what the CLI, the renderers, the Linux side, the tests and the
  benchmarks build on, so that a rule can change inside the model alone.
* The model never imports the renderers, the CLI, click or rich, and never
  prints.

Imports are read with ``ast`` from every source file of the package, the
tests and the benchmarks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ptcalc"
MODEL = PACKAGE / "model"
SOURCES = sorted(p for d in (PACKAGE, ROOT / "tests", ROOT / "benchmarks") for p in d.rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def imports(tree: ast.Module) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every absolute import; name None for ``import module``."""
    out: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, node.module, alias.name) for alias in node.names]
    return out


def private_model_imports(tree: ast.Module) -> list[str]:
    """``line: module [import name]`` of every import of a private model name."""
    found = []
    for line, module, name in imports(tree):
        if module != "ptcalc.model" and not module.startswith("ptcalc.model."):
            continue
        parts = module.split(".")[2:] + ([name] if name is not None else [])
        if any(p.startswith("_") for p in parts):
            found.append(f"{line}: {module}" + ("" if name is None else f" import {name}"))
    return found


def test_the_check_finds_what_it_looks_for():
    tree = ast.parse("from ptcalc.model.reasons import _most_common\nimport ptcalc.model.xp._pure\n"
                     "from ptcalc.model.xp import _numpy\nfrom ptcalc.model.tables import count\n"
                     "from ptcalc.units import _IEC\n")
    assert private_model_imports(tree) == ["1: ptcalc.model.reasons import _most_common", "2: ptcalc.model.xp._pure",
                                           "3: ptcalc.model.xp import _numpy"]


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", [p for p in SOURCES if MODEL not in p.parents], ids=_id)
def test_no_private_model_name_is_imported_outside_the_model(path):
    assert not private_model_imports(parse(path))


@pytest.mark.parametrize("path", sorted(MODEL.rglob("*.py")), ids=_id)
def test_the_model_imports_no_renderer_and_prints_nothing(path):
    tree = parse(path)
    bad = [m for _, m, _ in imports(tree) if m.split(".")[0] in ("click", "rich")
           or m.startswith(("ptcalc.render", "ptcalc.cli"))]
    assert not bad, bad
    prints = [n.lineno for n in ast.walk(tree)
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not prints, prints
