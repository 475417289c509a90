"""The documentation against the code: what docs/ says is what the code does.

The operators' page documents every environment setting the code reads (each with the default and the description
the settings class gives it) and every command and option of the ``backoffice`` command, the developers' page shows
the rule table of the posting core, and every relative link and picture of the README and of docs/ leads somewhere;
each test below fails when the pages and the code part. The pages are read with markdown-it (CommonMark and its
tables), as GitHub reads them: a code block is never prose.
"""

from __future__ import annotations

import ast
import importlib
import re
import tomllib
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from backoffice.platform.config import declared
from backoffice.posting.rules import table_markdown
from tests.checkout import ROOT

DOCS = ROOT / "docs"
OPERATORS = DOCS / "operators.md"

PYTHON = ("backoffice", "worker.py", "gunicorn.conf.py", "migrations")
"""The Python: the package, the worker, gunicorn's settings and the migrations."""
PYTHON_READERS = ("migrations",)
"""The Python that reads the environment itself: the migrations (the rest reads it through ``config.Settings``)."""
SHELL_READERS = ("Makefile", "deploy/systemd")
"""What expands settings in shell or make syntax: the Makefile's targets and the systemd units' command lines."""

SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
"""A setting's name, as the environment spells it (``DATABASE_URL``, ``BACKOFFICE_WEB_BIND``)."""
BACKOFFICE_SETTING = re.compile(r"\bBACKOFFICE(?:_[A-Z0-9]+)+\b")
SHELL_EXPANSION = re.compile(r"\$+[({]?(BACKOFFICE(?:_[A-Z0-9]+)+)")
"""``$(NAME)`` in make, ``${NAME}``, ``$${NAME:-default}`` or ``$$NAME`` in a unit's command line."""
ENVIRONMENT_READS = frozenset({"get", "setdefault", "pop"})
"""The environment's methods that read a name (besides ``[...]`` and ``in``)."""

COMMAND_PATH = re.compile(r"backoffice(?: [a-z][a-z0-9-]*)*")
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def test_every_setting_the_code_reads_is_documented_and_every_documented_one_is_read():
    """Every name the code reads from the environment has its row in a settings table of docs/operators.md (a
    table row whose first cell is the name alone, in backticks), and every ``BACKOFFICE_*`` name the page mentions,
    anywhere, and every name a settings row documents, is still read.

    What the code reads is the settings class's fields (see :func:`settings`), and what is found in the rest of the
    code itself (see :func:`environment_reads`): in the migrations, a literal name read from ``os.environ`` with
    ``get``, ``setdefault``, ``pop``, ``[...]`` or ``in``, or given to ``os.getenv``; ``$(NAME)``, ``${NAME}`` and
    ``$NAME`` expansions of ``BACKOFFICE_*`` names in the Makefile and the systemd units.
    """
    read = settings().keys() | environment_reads()
    documented = setting_rows(OPERATORS).keys()
    mentioned = set(BACKOFFICE_SETTING.findall(OPERATORS.read_text(encoding="utf-8")))
    problems = drift(
        {
            f"read by the code, without a row in a settings table of {OPERATORS.name}": read - documented,
            f"in {OPERATORS.name} but no longer read by the code": (mentioned | documented) - read,
            "named in the code but read in a way environment_reads() does not recognise (teach it)": (
                backoffice_literals() - read
            ),
        }
    )
    assert not problems, problems


def test_each_setting_s_row_gives_the_settings_class_default_and_description():
    """A setting's row in docs/operators.md says, in its second and third cells, the default and what the setting
    does as its field in ``config.Settings`` says them (see :func:`settings`): add a setting to the class, and its
    row must be written; change a default, and the page must say so."""
    rows = setting_rows(OPERATORS)
    problems = drift(
        {
            f"settings of the class without a row in {OPERATORS.name}": settings().keys() - rows.keys(),
            f"rows of {OPERATORS.name} whose default or description is not the settings class's": {
                f"{name} (the class says {said!r})"
                for name, said in settings().items()
                if name in rows and rows[name] != said
            },
        }
    )
    assert not problems, problems


def test_every_command_and_option_is_documented_in_its_own_place():
    """Every command of the ``backoffice`` console script (pyproject.toml's ``[project.scripts]``), the root
    itself, each group and each command in them, walked recursively through its click groups, has exactly one
    place in docs/operators.md, which holds each of its options; and the page has a place for no command that does
    not exist, and lists no option there that the command does not take.

    A command's place is the heading whose first code span is the command's full path (``### `backoffice
    reconcile verify```), its text running to the next heading of any level; or, for a command without such a
    heading, the table row whose first cell's first code span is the full path (used for the commands that
    Flask, Flask-Migrate and Flask-Limiter bring). A table row that is another command's place is not part of the
    heading's text. An option is documented when one of the place's inline code spans (outside code blocks)
    names it: each of its long names (``--debug`` and ``--no-debug``), or its short name when it has no long one
    (``-y``). Every ``--name`` in a code span that starts with ``-`` in a place must be one of the command's
    options or ``--help``, which every command takes. Hidden commands and options, which ``--help`` does not
    show, are left out (there are none today).
    """
    commands = command_tree()
    places = command_places(OPERATORS)
    undocumented, foreign = set(), set()
    for path, command in commands.items():
        if len(places.get(path, [])) != 1:
            continue
        spans = places[path][0]
        named = {option for span in spans for option in OPTION.findall(span)}
        undocumented |= {f"{path} {option}" for option in option_names_required(command) - named}
        takes = {name for option in visible_options(command) for name in option_names(option)} | {"--help"}
        listed = {option for span in spans if span.startswith("-") for option in OPTION.findall(span)}
        foreign |= {f"{path} {option}" for option in listed if option.startswith("--") and option not in takes}
    twice = {path for path, found in places.items() if len(found) > 1}
    problems = drift(
        {
            f"commands without their place (a heading or table row) in {OPERATORS.name}": commands.keys() - places,
            f"places in {OPERATORS.name} for commands that do not exist": places.keys() - commands.keys(),
            f"commands with more than one place in {OPERATORS.name}": twice,
            f"options missing from their command's place in {OPERATORS.name}": undocumented,
            f"options a command does not take, listed in its place in {OPERATORS.name}": foreign,
        }
    )
    assert not problems, problems


# Reporting


def drift(findings: dict[str, set[str]]) -> str:
    """The findings that are not empty, one line each with what was found, sorted (empty when there are none)."""
    return "\n".join(f"{what}: {', '.join(sorted(found))}" for what, found in findings.items() if found)


# What the code reads


def settings() -> dict[str, tuple[str, str]]:
    """Each field of ``config.Settings`` by its environment variable: its default as the page writes it (the value
    in backticks, ``unset`` for none, or the field's default in words) and its description."""
    found = {}
    for setting in declared():
        in_words = setting.default_in_words
        if in_words is None:
            in_words = "unset" if setting.default is None else f"`{setting.default}`"
        found[setting.name] = (in_words, setting.does)
    return found


def environment_reads() -> set[str]:
    """The names of the settings the code reads from the environment (see the first test's docstring)."""
    names: set[str] = set()
    for path in _files(PYTHON_READERS, "*.py"):
        names |= _python_reads(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    for path in _files(SHELL_READERS, "*"):
        lines = path.read_text(encoding="utf-8").splitlines()
        names |= {name for line in lines if not line.lstrip().startswith("#") for name in SHELL_EXPANSION.findall(line)}
    return names


def backoffice_literals() -> set[str]:
    """Every Python string literal that is a ``BACKOFFICE_*`` name and nothing else: each must be among the names
    :func:`environment_reads` finds, or the code reads one in a way it does not see."""
    return {
        node.value
        for path in _files(PYTHON, "*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and BACKOFFICE_SETTING.fullmatch(node.value)
    }


def _python_reads(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environment(node.value):
            names.add(_literal(node.slice))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            if _is_environment(node.comparators[0]):
                names.add(_literal(node.left))
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute) and node.args:
                if function.attr in ENVIRONMENT_READS and _is_environment(function.value):
                    names.add(_literal(node.args[0]))
                elif function.attr == "getenv" and isinstance(function.value, ast.Name) and function.value.id == "os":
                    names.add(_literal(node.args[0]))
    return {name for name in names if name and SETTING.fullmatch(name)}


def _is_environment(node: ast.AST) -> bool:
    """``os.environ``."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _files(roots: tuple[str, ...], pattern: str) -> list[Path]:
    found = []
    for root in roots:
        path = ROOT / root
        found += [path] if path.is_file() else sorted(p for p in path.rglob(pattern) if p.is_file())
    return [path for path in found if "__pycache__" not in path.parts]


# The `backoffice` command


def backoffice_command() -> click.Group:
    """The root group of the ``backoffice`` console script, found from pyproject.toml's ``[project.scripts]``."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module = importlib.import_module(scripts["backoffice"].partition(":")[0])
    (group,) = [value for value in vars(module).values() if isinstance(value, click.Group)]
    return group


def command_tree() -> dict[str, click.Command]:
    """Every visible command by its full path (``backoffice``, ``backoffice db``, ``backoffice db upgrade``…), as
    the console script finds them: the groups the app registers, Flask's and the plugins' commands."""
    root = backoffice_command()
    found: dict[str, click.Command] = {}
    with root.make_context("backoffice", [], resilient_parsing=True) as context:
        _walk(root, context, found)
    return found


def _walk(command: click.Command, context: click.Context, found: dict[str, click.Command]) -> None:
    found[context.command_path] = command
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(context):
        sub = command.get_command(context, name)
        if sub is not None and not sub.hidden:
            _walk(sub, click.Context(sub, info_name=name, parent=context), found)


def visible_options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def option_names(option: click.Option) -> set[str]:
    return set(option.opts) | set(option.secondary_opts)


def option_names_required(command: click.Command) -> set[str]:
    """What the page must name of the command's options: each long name, or the short one of an option without."""
    required = set()
    for option in visible_options(command):
        names = option_names(option)
        required |= {name for name in names if name.startswith("--")} or names
    return required


# Reading the pages

MARKDOWN = MarkdownIt("commonmark").enable("table")


@dataclass(frozen=True)
class Block:
    """A heading, a table row or any other run of text of a page, outside code blocks: the inline parts of its text
    (a row's, one per cell)."""

    kind: str
    """``heading``, ``row`` or ``text``."""
    parts: list[Token]

    def spans(self, part: int | None = None) -> list[str]:
        """The inline code spans, as written between their backticks, of one part or of all."""
        chosen = self.parts if part is None else self.parts[part : part + 1]
        return [child.content for inline in chosen for child in inline.children or () if child.type == "code_inline"]

    def only_span(self, part: int) -> str | None:
        """The code span that is all of one part (a cell that is `` `NAME` `` and nothing else), if it is."""
        children = self.parts[part].children or []
        return children[0].content if len(children) == 1 and children[0].type == "code_inline" else None


@cache
def tokens(path: Path) -> list[Token]:
    return MARKDOWN.parse(path.read_text(encoding="utf-8"))


def blocks(path: Path) -> Iterator[Block]:
    """The page's headings, table rows and other text, in order."""
    row = None
    found = tokens(path)
    for index, token in enumerate(found):
        if token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            yield Block("row", row)
            row = None
        elif token.type == "inline" and row is not None:
            row.append(token)
        elif token.type == "inline":
            yield Block("heading" if found[index - 1].type == "heading_open" else "text", [token])


def setting_rows(path: Path) -> dict[str, tuple[str, str]]:
    """The settings documented by a table row of their own (its first cell is the name in backticks alone), and the
    row's second and third cells, as written: the default and what the setting does."""
    return {
        name: (block.parts[1].content, block.parts[2].content)
        for block in blocks(path)
        if block.kind == "row" and SETTING.fullmatch(name := block.only_span(0) or "")
    }


def command_places(path: Path) -> dict[str, list[list[str]]]:
    """Each command's places in the page, by command path: the code spans of each (see the second test's
    docstring)."""
    places: dict[str, list[list[str]]] = {}
    current: list[str] | None = None
    for block in blocks(path):
        first = block.spans(0)
        names = bool(first) and COMMAND_PATH.fullmatch(first[0]) and block.kind != "text"
        if block.kind == "heading":
            current = block.spans() if names else None
            if current is not None:
                places.setdefault(first[0], []).append(current)
        elif names:
            places.setdefault(first[0], []).append(block.spans())
        elif current is not None:
            current += block.spans()
    return places


# The links and images of the README and of the pages under docs/.

PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def _slug(heading: str, taken: Counter) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens, ``-1``, ``-2`` on
    repeats."""
    slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    taken[slug] += 1
    return slug if taken[slug] == 1 else f"{slug}-{taken[slug] - 1}"


def anchors(path: Path) -> set[str]:
    taken = Counter()
    return {
        _slug("".join(child.content for child in block.parts[0].children or ()), taken)
        for block in blocks(path)
        if block.kind == "heading"
    }


def broken_links(page: Path) -> list[str]:
    """Every relative link or image of ``page`` whose file, or whose heading after ``#``, is not there."""
    broken = []
    for token in (child for block in blocks(page) for part in block.parts for child in part.children or ()):
        target = token.attrs.get("href") if token.type == "link_open" else token.attrs.get("src")
        if not target or urllib.parse.urlsplit(target).scheme:
            continue
        path, _, anchor = target.partition("#")
        found = (page.parent / urllib.parse.unquote(path)).resolve() if path else page
        if not found.exists():
            broken.append(f"{target}: no {found.relative_to(ROOT) if found.is_relative_to(ROOT) else found}")
        elif anchor and (found.suffix != ".md" or anchor not in anchors(found)):
            broken.append(f"{target}: no heading #{anchor} in {found.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(page):
    assert broken_links(page) == []


def test_a_link_to_a_missing_file_heading_or_image_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Health check\n\n## Health check\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#health-check-1) [ok](#page) [web](https://example.com/x.md)\n"
        "[gone](missing.md) [no heading](other.md#metrics) ![no picture](images/none.png) [here](#nowhere)\n\n"
        "```\n[in code](ignored.md)\n```\n"
    )
    assert broken_links(page) == [
        f"missing.md: no {tmp_path / 'missing.md'}",
        "other.md#metrics: no heading #metrics in other.md",
        f"images/none.png: no {tmp_path / 'images/none.png'}",
        "#nowhere: no heading #nowhere in page.md",
    ]


def test_the_developers_page_shows_the_rule_table_as_it_is():
    assert table_markdown() in (DOCS / "developers.md").read_text()
