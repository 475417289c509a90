"""The shape of the code, as one contract: the packages of ``backoffice`` in their floor order, each importing only
the floors below it; no import circle among files or among the files and folders of any folder; no screen that
reaches the posting core. Read from every import statement, those inside functions too."""

from __future__ import annotations

import re
from functools import cache
from graphlib import CycleError, TopologicalSorter

import grimp
import pytest

FLOORS = (
    "backoffice.command",
    "backoffice.app",
    "backoffice.cli",
    "backoffice.web",
    "backoffice.imports",
    "backoffice.operations",
    "backoffice.jobs",
    "backoffice.reconcile",
    "backoffice.services",
    "backoffice.posting",
    "backoffice.evidence",
    "backoffice.models",
    "backoffice.platform",
)
"""Every package (and the two modules) of ``backoffice``, from the top floor down: a floor imports only floors below
it. The command starts the app; the app serves the screens and registers the commands; the screens and commands
ask the imports, operations, jobs, checks and services; the services post through the posting core, which seals its
evidence, on the models, on the platform (settings, the database's extension, money and words)."""


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("backoffice", cache_dir=None)


def circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle among ``edges`` (a module to those it imports), or None."""
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as found:
        return found.args[1]
    return None


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    assert sorted(circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})[:-1]) == ["a", "b", "c"]
    assert circle({"a": {"b"}}) is None


def test_the_contract_names_every_package_at_the_top():
    assert set(FLOORS) == graph().find_children("backoffice")


def test_each_floor_imports_only_the_floors_below_it():
    assert graph().find_illegal_dependencies_for_layers(layers=FLOORS) == set()


def test_the_contract_catches_an_upward_import():
    assert graph().find_illegal_dependencies_for_layers(layers=("backoffice.platform", "backoffice.models"))


def test_no_file_imports_itself_back():
    edges = {module: graph().find_modules_directly_imported_by(module) for module in graph().modules}
    assert circle(edges) is None


def _packages() -> list[str]:
    return sorted(module for module in graph().modules if graph().find_children(module))


@pytest.mark.parametrize("package", _packages())
def test_no_package_imports_itself_back(package):
    """Among the files and folders of each folder, squashed: a folder imports what any file in it imports."""
    children = graph().find_children(package)

    def owner(module: str) -> str | None:
        return next((child for child in children if module == child or module.startswith(child + ".")), None)

    edges: dict[str, set[str]] = {child: set() for child in children}
    for child in children:
        for module in {child} | graph().find_descendants(child):
            for imported in graph().find_modules_directly_imported_by(module):
                target = owner(imported)
                if target is not None and target != child:
                    edges[child].add(target)
    assert circle(edges) is None


def test_no_screen_imports_the_posting_core():
    """A screen names a movement's kind or catches a refusal from the services (``services.vocabulary``); it never
    builds a movement or calls the writer."""
    found = graph().find_matching_direct_imports(import_expression="backoffice.web.** -> backoffice.posting.**")
    found += graph().find_matching_direct_imports(import_expression="backoffice.web.** -> backoffice.posting")
    assert found == []


def test_no_command_posts_it_calls_a_service():
    """A command binds the database (``services.listeners``) and otherwise asks the services."""
    for detail in graph().find_matching_direct_imports(import_expression="backoffice.cli.** -> backoffice.posting.**"):
        assert detail["imported"] == "backoffice.services.listeners", detail
    for screen in sorted(graph().find_descendants("backoffice.cli")):
        for imported in graph().find_modules_directly_imported_by(screen):
            for line in graph().get_import_details(importer=screen, imported=imported):
                assert not re.search(r"\bpost(_many)?\b", line["line_contents"].split(" import ", 1)[-1]), line
