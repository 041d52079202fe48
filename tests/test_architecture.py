"""The house plan, read from the import graph (grimp; import-linter for the contracts in pyproject.toml).

- Two wings: the layer package (``responder``) holds exactly what the handlers import, so the layer
  ships no exclude list; the workstation is its own package; nothing imports upward
  (stacks > workstation > lambdas | deployment > responder).
- One room per stage: each step of ``lambdas/steps.py`` has its handler folder and its service module
  ``responder/steps/<name>.py``, and the handler's service code is there.
- No cycles: import-linter's acyclic_siblings contract, at every depth, so between two modules of a
  package as well as between packages.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import grimp
import importlinter.api  # noqa: F401 - configures import-linter (what its CLI does), without its logging setup
import pytest
from importlinter.application.use_cases import lint_imports

from lambdas.steps import STEPS

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("stacks", "workstation", "lambdas", "deployment", "responder")


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, cache_dir=None)


def _with_parents(modules: set[str]) -> set[str]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too: they ship and load."""
    out = set(modules)
    for module in modules:
        parts = module.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts))}
    return out


def handler_closure() -> set[str]:
    """Every module a Lambda function can load: its handler and all it imports, directly or not."""
    g = graph()
    reached: set[str] = set()
    for step in STEPS:
        handler = f"lambdas.{step.name}.handler"
        reached |= {handler} | g.find_upstream_modules(handler)
    return _with_parents(reached)


def test_the_layer_package_is_exactly_what_handlers_import():
    layer = {m for m in graph().modules if m.split(".")[0] == "responder"}
    unreached = sorted(layer - handler_closure())
    assert not unreached, f"in the layer but imported by no handler (move to workstation/?): {unreached}"


def test_handlers_reach_neither_the_workstation_nor_the_cdk_app():
    above = sorted(m for m in handler_closure() if m.split(".")[0] in ("workstation", "stacks", "deployment"))
    assert not above, f"a handler imports a wing the layer does not ship: {above}"


def test_the_layer_bundler_has_no_exclude_list():
    from stacks.constructs import layers

    assert not hasattr(layers, "EXCLUDE_TOP_LEVEL")
    assert set(layers.EXCLUDE_ANYWHERE) <= {"__pycache__", "*.pyc", "tests"}


def test_import_contracts_hold():
    """pyproject.toml's [tool.importlinter] contracts: the wings' layers and acyclic siblings (no cycle).

    The use case, not the CLI: the CLI's logging.config.dictConfig disables every logger already
    made (the responder's too), which would silence the log assertions of later tests."""
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), cache_dir=None, no_logo=True)


def test_only_handlers_and_steps_import_a_step_module():
    g = graph()
    wrong = sorted(
        (importer, imported)
        for imported in g.modules
        if imported.startswith("responder.steps.")
        for importer in g.find_modules_that_directly_import(imported)
        if importer.split(".")[0] == "responder" and not importer.startswith("responder.steps")
    )
    assert not wrong, f"a shared module imports a step (upward): {wrong}"


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_one_name_from_state_to_service_module(step):
    """``PlanQueries`` -> ``lambdas/plan_queries/handler.py`` -> ``responder/steps/plan_queries.py``."""
    assert (REPO / "lambdas" / step.name / "handler.py").is_file()
    assert (REPO / "responder" / "steps" / f"{step.name}.py").is_file()
    handler = f"lambdas.{step.name}.handler"
    steps_imported = {
        m for m in graph().find_modules_directly_imported_by(handler) if m.startswith("responder.steps.")
    }
    # The handler's service code is in the module its name points to, and only there.
    assert steps_imported == {f"responder.steps.{step.name}"}
    asl = "".join(p.read_text() for p in (REPO / "statemachine").glob("*.asl.json"))
    assert f'"{step.state}"' in asl and "${" + step.placeholder + "}" in asl


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_handlers_are_thin(step):
    """A handler parses, takes clients and settings, calls its step and logs: no service logic here."""
    tree = ast.parse((REPO / "lambdas" / step.name / "handler.py").read_text())
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    long = [f.name for f in functions if (f.end_lineno or 0) - f.lineno > 60]
    assert not long, f"{step.name}: functions too long for a handler: {long}"


def test_no_step_module_without_a_step():
    modules = {p.stem for p in (REPO / "responder" / "steps").glob("*.py") if p.stem != "__init__"}
    assert modules == {s.name for s in STEPS}


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_each_handler_has_its_test_module_saved_input_and_broken_twin(step):
    module = REPO / "tests" / "lambdas" / f"test_{step.name}.py"
    assert module.is_file(), f"no tests/lambdas/test_{step.name}.py"
    for suffix in ("", ".broken"):
        assert (REPO / "tests" / "events" / f"{step.name}{suffix}.json").is_file()
    text = module.read_text()
    assert f'saved_input("{step.name}"' in text and "broken=True" in text
