"""Loading, checking and rendering versioned prompt templates.

A template is a text file: a header of ``key: value`` lines, a line ``---``, then the body::

    id: judge
    version: 1
    placeholders: question, reference, response
    ---
    Compare ... {question} ... {reference} ... {response}

Placeholders use ``str.format`` syntax, ``{name}``, and a literal brace is doubled: LaTeX is
written ``\\frac{{a}}{{b}}`` and JSON examples ``{{"key": 1}}``. Values are substituted as plain
text and never re-parsed, so a question full of LaTeX braces renders safely. Only bare names are
allowed: no positional ``{}``, attribute/index access, conversions or format specs.

Why so strict: the public MMFineReason code formatted its judge prompt with names the template did
not use, swallowed the ``KeyError``, and silently judged every answer wrong. Here the header's
``placeholders`` must equal the fields in the body, a caller can state the names it will supply
(``expect=``) so a wrong override fails at start-up, and ``render`` rejects missing or extra values,
each error naming the placeholder.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from finereason.errors import UserError

TEMPLATE_DIR = Path(__file__).parent
_HEADER_KEYS = {"id", "version", "placeholders", "note"}


class PromptError(UserError):
    """A template that is malformed or does not fit what its caller supplies."""


@dataclass(frozen=True)
class Prompt:
    """A loaded template. ``sha256`` is of the body, so it identifies exactly what models are sent."""

    id: str
    version: int
    text: str
    placeholders: tuple[str, ...]
    source: str
    note: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def ref(self) -> str:
        """``id@vVERSION#sha12``: a short identity for manifests and records."""
        return f"{self.id}@v{self.version}#{self.sha256[:12]}"

    def render(self, **values: object) -> str:
        """Fill every placeholder; a missing or unexpected value raises :class:`PromptError`."""
        _check_names(self, set(values), "render")
        out = []
        for literal, field, _, _ in string.Formatter().parse(self.text):
            out.append(literal)
            if field is not None:
                out.append(str(values[field]))
        return "".join(out)


def available() -> list[str]:
    """Names of the bundled templates."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.txt"))


def load_prompt(name_or_path: str | Path, *, expect: Iterable[str] | None = None) -> Prompt:
    """Load a bundled template by name, or an override file by path.

    ``expect`` is the set of names the caller will pass to ``render``; give it at start-up so a
    template (typically a user override) with different placeholders fails before any model call.
    """
    path = Path(name_or_path)
    if path.suffix != ".txt" and len(path.parts) == 1:
        path = TEMPLATE_DIR / f"{name_or_path}.txt"
        if not path.exists():
            raise PromptError(f"unknown prompt {str(name_or_path)!r}; bundled: {', '.join(available())}")
    elif not path.exists():
        raise PromptError(f"prompt file {path} does not exist")
    prompt = parse_prompt(path.read_text(encoding="utf-8"), source=str(path))
    if expect is not None:
        _check_names(prompt, set(expect), "caller")
    return prompt


def parse_prompt(content: str, *, source: str = "<string>") -> Prompt:
    """Parse a template file's content; every problem is reported with ``source``."""
    content = content.replace("\r\n", "\n")
    head, sep, body = content.partition("\n---\n")
    if not sep:
        raise PromptError(f"{source}: missing the '---' line that ends the header")
    header: dict[str, str] = {}
    for line in head.strip().splitlines():
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or key not in _HEADER_KEYS:
            raise PromptError(f"{source}: bad header line {line!r} (keys: {', '.join(sorted(_HEADER_KEYS))})")
        header[key] = value.strip()
    for key in ("id", "version", "placeholders"):
        if key not in header:
            raise PromptError(f"{source}: header lacks {key!r}")
    if not header["version"].isdigit():
        raise PromptError(f"{source}: version must be an integer, got {header['version']!r}")
    declared = [p.strip() for p in header["placeholders"].split(",") if p.strip()]
    text = body.strip("\n") + "\n"
    found = _fields(text, source)
    missing, unknown = set(declared) - set(found), set(found) - set(declared)
    if unknown:
        raise PromptError(f"{source}: unknown placeholder(s) {_names(unknown)} not declared in the header")
    if missing:
        raise PromptError(f"{source}: declared placeholder(s) {_names(missing)} do not appear in the body")
    return Prompt(
        id=header["id"],
        version=int(header["version"]),
        text=text,
        placeholders=tuple(found),
        source=source,
        note=header.get("note", ""),
    )


def _fields(text: str, source: str) -> list[str]:
    """Placeholder names in order of first use; rejects anything but ``{identifier}``."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise PromptError(f"{source}: {err} (write a literal brace as '{{{{' or '}}}}')") from err
    names: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise PromptError(
                f"{source}: placeholder {{{shown}}} is not a bare name (write a literal brace as '{{{{' or '}}}}')"
            )
        if field not in names:
            names.append(field)
    return names


def _check_names(prompt: Prompt, given: set[str], who: str) -> None:
    missing, extra = set(prompt.placeholders) - given, given - set(prompt.placeholders)
    problems = []
    if missing:
        problems.append(f"missing value(s) for {_names(missing)}")
    if extra:
        problems.append(f"unknown placeholder(s) {_names(extra)}")
    if problems:
        raise PromptError(
            f"prompt {prompt.id} ({prompt.source}) takes {_names(prompt.placeholders) or 'no placeholders'}; "
            f"{who}: {'; '.join(problems)}"
        )


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))
