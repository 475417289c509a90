"""Rooms that say what they hold: every public function of the posting core and the services says in a line what it
does; no module is longer than a reader holds at once (the settings aside); the core and the services share no
module's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "backoffice"
LONGEST = 700
"""Lines a module may hold."""
SETTINGS = PACKAGE / "platform" / "config.py"
"""The settings: one list of every setting with its description, read as one."""


def _modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (PACKAGE / folder).rglob("*.py"))


@pytest.mark.parametrize("module", _modules("posting", "services"), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_every_public_function_of_the_core_and_the_services_says_what_it_does(module):
    tree = ast.parse(module.read_text())
    silent = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and not node.name.startswith("_")
        and not ast.get_docstring(node)
    ]
    assert silent == []


def test_no_module_is_longer_than_a_reader_holds_at_once():
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in _modules(".")
        if path != SETTINGS and (lines := len(path.read_text().splitlines())) > LONGEST
    }
    assert long == {}


def test_the_core_and_the_services_share_no_module_s_name():
    def names(folder: str) -> set[str]:
        return {path.name for path in (PACKAGE / folder).glob("*.py")} - {"__init__.py"}

    assert names("posting") & names("services") == set()
