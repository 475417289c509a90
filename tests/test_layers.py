"""The shape of the code: no import circle among files or packages, the posting core below the services, the models
below the posting core, and no screen that posts. Read from every import statement, those inside functions too."""

from __future__ import annotations

import re
from functools import cache

import grimp
import pytest


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("backoffice", cache_dir=None)


def circles(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_the_circle_finder_finds_a_circle_and_nothing_else():
    assert circles({"a", "b", "c", "d"}, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a", "b"}, {"a": {"b"}}) == []


def test_no_file_imports_itself_back():
    modules = graph().modules
    edges = {module: graph().find_modules_directly_imported_by(module) for module in modules}
    assert circles(set(modules), edges) == []


def _packages() -> list[str]:
    return sorted(module for module in graph().modules if graph().find_children(module))


@pytest.mark.parametrize("package", _packages())
def test_no_package_imports_itself_back(package):
    """Among the files and folders of each folder, squashed: a folder imports what any file in it imports."""
    children = graph().find_children(package)

    def owner(module: str) -> str | None:
        return next((child for child in children if module == child or module.startswith(child + ".")), None)

    edges: dict[str, set[str]] = {}
    for child in children:
        for module in {child} | graph().find_descendants(child):
            for imported in graph().find_modules_directly_imported_by(module):
                target = owner(imported)
                if target is not None and target != child:
                    edges.setdefault(child, set()).add(target)
    assert circles(set(children), edges) == []


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("backoffice.models", "backoffice.posting"),
        ("backoffice.models", "backoffice.services"),
        ("backoffice.posting", "backoffice.services"),
        ("backoffice.posting", "backoffice.reconcile"),
        ("backoffice.posting", "backoffice.web"),
        ("backoffice.services", "backoffice.web"),
    ],
)
def test_a_lower_layer_imports_nothing_of_a_higher_one(lower, higher):
    assert graph().find_illegal_dependencies_for_layers(layers=(higher, lower)) == set()


def test_no_screen_posts_it_calls_a_service():
    """A screen may name a movement's kind or catch a refusal; it never builds a movement or calls the writer."""
    writers = {"backoffice.posting.movement", "backoffice.posting.many", "backoffice.posting.wallet"}
    writers |= {"backoffice.posting.journal"}
    screens = {"backoffice.web"} | graph().find_descendants("backoffice.web")
    for screen in sorted(screens):
        for imported in graph().find_modules_directly_imported_by(screen):
            assert imported not in writers, f"{screen} imports {imported}"
            if imported == "backoffice.posting.post":
                for detail in graph().get_import_details(importer=screen, imported=imported):
                    names = re.findall(r"\w+", detail["line_contents"].split(" import ", 1)[-1])
                    assert "post" not in names and "post_many" not in names, f"{screen}: {detail['line_contents']}"
