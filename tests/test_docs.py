"""The docs name only things that exist, and the references cover every command, endpoint and setting.

- Every `doorstep/...` path in an inline code span of README.md, CONTRIBUTING.md or docs/**/*.md exists
  (``<placeholder>`` and ``…`` parts match any name), and every `doorstep.x.y` dotted name imports (a trailing
  attribute such as `doorstep.db.transaction` must exist on its module). Imports from doorstep in fenced
  Python blocks must work too, and relative links must point at existing files and headings.
- docs/reference/settings.md lists every Settings field (DOORSTEP_NAME, DOORSTEP_SECTION__NAME) with its
  description, and nothing else.
- docs/reference/cli.md has a section per command, naming each of its options, and no stale sections.
- docs/reference/api.md names every "METHOD /path" of the OpenAPI document, and no stale ones.
"""

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from pydantic import BaseModel

from doorstep.app import create_app
from doorstep.cli.main import app as cli_app
from doorstep.config import Settings

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])

FENCE = re.compile(r"^(?P<fence>```|~~~)(?P<lang>[^\n]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
PATH = re.compile(r"(?<![\w./-])doorstep/[^\s`'\"()]*")
DOTTED = re.compile(r"(?<![\w./-])doorstep(?:\.[A-Za-z_]\w*)+")
PLACEHOLDER = re.compile(r"<[^>/]*>|…")
PY_IMPORT = re.compile(
    r"^\s*(?:from\s+(doorstep[\w.]*)\s+import\s+([\w, ]+)|import\s+(doorstep[\w.]*))", re.M
)
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*$", re.M)
SETTING = re.compile(r"(?<![A-Z0-9_])DOORSTEP_[A-Z0-9]+(?:__?[A-Z0-9]+)*(?![A-Z0-9_])")
ENDPOINT_HEADING = re.compile(r"^#{1,6}\s+`(GET|POST|PUT|PATCH|DELETE) (/[^`]*)`\s*$", re.M)


def _relative(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


def _without_fences(text: str) -> str:
    return FENCE.sub("", text)


def _code_spans(doc: Path) -> Iterator[str]:
    for match in CODE_SPAN.finditer(_without_fences(doc.read_text())):
        yield match.group(2)


def _path_exists(token: str) -> bool:
    cleaned = token.rstrip(".,:;")
    if PLACEHOLDER.search(cleaned):
        pattern = PLACEHOLDER.sub("*", cleaned).rstrip("/")
        return any(ROOT.glob(pattern))
    return (ROOT / cleaned).exists()


def _resolve(dotted: str) -> object:
    """Import the longest importable module prefix, then look the rest up as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: object = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise  # a module that exists failed to import one of its own dependencies
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def _broken_name(dotted: str) -> str | None:
    try:
        _resolve(dotted)
    except (ImportError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _slug(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _sections(doc: Path) -> dict[str, str]:
    """Heading text → the text up to the next heading."""
    text = doc.read_text()
    headings = list(HEADING.finditer(_without_fences(text)))
    stripped = _without_fences(text)
    return {
        match.group(2): stripped[match.end() : headings[i + 1].start() if i + 1 < len(headings) else None]
        for i, match in enumerate(headings)
    }


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_quoted_paths_exist(doc: Path) -> None:
    missing = sorted(
        {token for span in _code_spans(doc) for token in PATH.findall(span) if not _path_exists(token)}
    )
    assert missing == [], f"{_relative(doc)} names paths that do not exist"


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_quoted_dotted_names_import(doc: Path) -> None:
    names = {name for span in _code_spans(doc) for name in DOTTED.findall(span)}
    broken = {name: reason for name in sorted(names) if (reason := _broken_name(name))}
    assert broken == {}, f"{_relative(doc)} names modules or attributes that do not import"


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_python_examples_import_what_they_use(doc: Path) -> None:
    names: set[str] = set()
    for block in FENCE.finditer(doc.read_text()):
        if block.group("lang").strip() not in ("python", "py"):
            continue
        for module, imported, plain in PY_IMPORT.findall(block.group("body")):
            if plain:
                names.add(plain)
                continue
            names.update(f"{module}.{item.strip()}" for item in imported.split(",") if item.strip())
    broken = {name: reason for name in sorted(names) if (reason := _broken_name(name))}
    assert broken == {}, f"{_relative(doc)} has Python examples importing what does not exist"


def _link_is_broken(doc: Path, target: str) -> bool:
    file_part, _, anchor = target.partition("#")
    linked = (doc.parent / file_part).resolve() if file_part else doc
    if not linked.exists():
        return True
    if not anchor or linked.suffix != ".md":
        return False
    return anchor not in {_slug(heading) for heading in _sections(linked)}


@pytest.mark.parametrize("doc", DOCS, ids=_relative)
def test_relative_links_resolve(doc: Path) -> None:
    broken = [
        target for target in LINK.findall(_without_fences(doc.read_text())) if _link_is_broken(doc, target)
    ]
    assert broken == [], f"{_relative(doc)} links to missing files or headings"


def _settings(model: type[BaseModel], prefix: str = "DOORSTEP_") -> Iterator[tuple[str, str]]:
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _settings(annotation, f"{variable}__")
        else:
            yield variable, field.description or ""


def test_settings_reference_lists_every_setting_with_its_description() -> None:
    text = (REFERENCE / "settings.md").read_text()
    flat = " ".join(text.split())
    documented = set(SETTING.findall(text))
    expected = dict(_settings(Settings))
    assert [name for name, description in expected.items() if not description] == []
    assert sorted(set(expected) - documented) == [], "settings missing from docs/reference/settings.md"
    assert sorted(documented - set(expected)) == [], "docs/reference/settings.md names unknown settings"
    stale = [name for name, description in expected.items() if " ".join(description.split()) not in flat]
    assert stale == [], "descriptions in docs/reference/settings.md differ from doorstep/config.py"


def _commands(command: Any, path: str) -> Iterator[tuple[str, list[str]]]:
    """Every command that runs something, and every group with options of its own (the root)."""
    options = [
        opt
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    ]
    subcommands = getattr(command, "commands", None) or {}
    if options or not subcommands:
        yield path, options
    for name, sub in sorted(subcommands.items()):
        yield from _commands(sub, f"{path} {name}")


def test_cli_reference_has_a_section_per_command_naming_its_options() -> None:
    sections = _sections(REFERENCE / "cli.md")
    commands = dict(_commands(typer.main.get_command(cli_app), "doorstep"))
    missing = sorted(path for path in commands if f"`{path}`" not in sections)
    assert missing == [], "commands without a section in docs/reference/cli.md"
    undocumented = {
        path: [
            opt
            for opt in options
            if not re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", sections[f"`{path}`"])
        ]
        for path, options in commands.items()
    }
    assert {path: opts for path, opts in undocumented.items() if opts} == {}, "options missing from cli.md"
    stale = sorted(h for h in sections if h.startswith("`doorstep") and h.strip("`") not in commands)
    assert stale == [], "docs/reference/cli.md documents commands that do not exist"


def test_api_reference_names_every_endpoint() -> None:
    text = (REFERENCE / "api.md").read_text()
    schema = create_app(Settings(database_url="sqlite://")).openapi()
    endpoints = {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert sorted(e for e in endpoints if f"`{e}`" not in text) == [], "endpoints missing from api.md"
    headed = {f"{method} {path}" for method, path in ENDPOINT_HEADING.findall(text)}
    assert sorted(headed - endpoints) == [], "docs/reference/api.md documents endpoints that do not exist"
