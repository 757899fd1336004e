"""JSON Lines and JSON arrays, read as a stream of raw units without loading the file.

A JSON Lines file is split into lines here (cheap) and each line is parsed by the ingest stage in
a worker, so one broken line is one ``bad_json`` rejection and the rest of the file still
counts. A JSON array (LLaVA's usual layout) has no line structure to split on; the standard
library only parses whole documents and ``ijson`` is not a dependency, so :func:`iter_array`
feeds :meth:`json.JSONDecoder.raw_decode` from a growing window, one element at a time.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from finereason.io.readers.base import InputError, RecordError

_CHUNK = 1 << 20
#: Longest JSON line read; records with inline images are a few MB, a line of GBs is an accident.
MAX_LINE_BYTES = 256 << 20
#: Deepest nesting of arrays and objects accepted in one record (real records nest 3-4 deep).
MAX_DEPTH = 64
#: Most digits in one integer literal (ids and counts have a few dozen; Python caps int parsing at 4300).
MAX_INT_DIGITS = 100
#: The limits in words, for ``--help`` and rejection details.
LIMITS = (f"lines of at most {MAX_LINE_BYTES >> 20} MB, nesting at most {MAX_DEPTH} deep, "
          f"integers of at most {MAX_INT_DIGITS} digits, valid Unicode")
_BLANK = " \t\r\n"


def iter_lines(path: Path) -> Iterator[tuple[int, bytes | RecordError]]:
    """``(line number from 1, bytes)`` for each non-blank line; one line in memory at a time.

    A line over :data:`MAX_LINE_BYTES` (a file with no newlines, say) is skipped without being
    held, and yields a ``record_too_large`` error in its place.
    """
    with open(path, "rb") as f:
        number = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(line) > MAX_LINE_BYTES:
                while (rest := f.readline(_CHUNK)) and not rest.endswith(b"\n"):
                    pass
                yield number, RecordError("record_too_large", f"line longer than {MAX_LINE_BYTES} bytes; skipped")
                continue
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            if line.strip():
                yield number, line


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise RecordError("bad_json", f"an integer of {len(digits.lstrip('-'))} digits (limit {MAX_INT_DIGITS})")
    return int(digits)


_DECODER = json.JSONDecoder(parse_int=_int)


def loads(text: str) -> Any:
    """``json.loads`` within :data:`LIMITS`: anything outside them is a :class:`RecordError`.

    The standard parser recurses (a line nested 100,000 deep is a ``RecursionError``) and turns
    JSON escapes into lone surrogates (``"\\ud800"``) that no UTF-8 writer accepts, so both are
    caught here, where they are one record's problem, and not when the shard is written.
    """
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise RecordError("bad_json", f"{e.msg} at column {e.colno}: {text.strip()[:200]!r}") from e
    except RecursionError:
        raise RecordError("bad_json", f"nested deeper than {MAX_DEPTH} levels") from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Refuse a parsed record nested deeper than :data:`MAX_DEPTH` or holding text that is not
    valid Unicode (lone surrogates). Iterative, so any depth is safe to inspect; linear in size."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise RecordError("bad_json", f"nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, dict):
                for k, v in item.items():
                    _check_text(k)
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in item)


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordError(
            "bad_encoding", f"a string holds {text[e.start]!r} at character {e.start + 1}, a lone surrogate "
            "(not valid Unicode, cannot be stored as UTF-8)") from None


def parse_line(line: bytes) -> Any:
    """Decode one JSON line within :data:`LIMITS`: ``bad_encoding`` for bytes or escapes that are not
    UTF-8 text, ``bad_json`` for broken JSON or JSON past the limits."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError("bad_encoding", f"byte 0x{line[e.start]:02x} at column {e.start + 1} is not UTF-8") from e
    return loads(text)


class _Window:
    """A decoded text window over a binary file. Undecodable bytes become lone surrogates
    (``surrogateescape``) so one bad element is found and refused instead of failing the file."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._utf8 = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.buf = ""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more (at least as much as is buffered, so re-parsing a big element stays linear)."""
        if self.eof:
            return False
        data = self._f.read(max(_CHUNK, len(self.buf) - self.pos))
        self.eof = not data
        self.buf = self.buf[self.pos:] + self._utf8.decode(data, final=self.eof)
        self.pos = 0
        return True

    def peek(self) -> str | None:
        """The next non-blank character (not consumed), or ``None`` at the end of the file."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _BLANK:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return None

    def value(self, decoder: json.JSONDecoder) -> tuple[Any, str]:
        """The next JSON value and its source text; raises ``JSONDecodeError`` if it never completes."""
        while True:
            try:
                obj, end = decoder.raw_decode(self.buf, self.pos)
                # A value that ends exactly at the window's edge may continue (a number): read on.
                if end < len(self.buf) or self.eof:
                    text = self.buf[self.pos:end]
                    self.pos = end
                    return obj, text
            except json.JSONDecodeError:
                if self.eof:
                    raise
            self.fill()


def iter_array(path: Path) -> Iterator[tuple[int, Any]]:
    """``(index, element)`` for each element of a top-level JSON array, streaming.

    A broken element yields a :class:`RecordError` in its place; since an array cannot be
    resynchronised after broken JSON, the rest of the file then ends in that one rejection.
    """
    with open(path, "rb") as f:
        w = _Window(f)
        c = w.peek()
        if c == "\ufeff":
            w.pos += 1
            c = w.peek()
        if c is None:
            return
        if c != "[":
            raise InputError(f"{path}: not a JSON array (it starts with {c!r})")
        w.pos += 1
        if w.peek() == "]":
            return
        index = 0
        while True:
            w.peek()  # raw_decode does not skip leading whitespace
            try:
                obj, text = w.value(_DECODER)
            except (json.JSONDecodeError, RecursionError, RecordError) as e:
                why = e.msg if isinstance(e, json.JSONDecodeError) else (
                    e.detail if isinstance(e, RecordError) else f"nested deeper than {MAX_DEPTH} levels")
                yield index, RecordError("bad_json", f"element {index}: {why}; the rest of the array is unreadable")
                return
            try:
                text.encode("utf-8")
                check_value(obj)
            except UnicodeEncodeError:
                yield index, RecordError("bad_encoding", f"element {index} holds bytes that are not UTF-8")
            except RecordError as e:
                yield index, RecordError(e.reason, f"element {index}: {e.detail}")
            else:
                yield index, obj
            index += 1
            c = w.peek()
            if c == ",":
                w.pos += 1
                continue
            if c == "]":
                return
            found = "the end of the file (truncated?)" if c is None else repr(c)
            yield index, RecordError("bad_json", f"after element {index - 1}: expected ',' or ']', found {found}")
            return


def first_fields(path: Path, container: str) -> set[str] | None:
    """Field names of the first readable record, ``None`` if there is none (an empty file).

    Up to 50 lines are tried, so a broken first line does not hide the format; if none of them
    is a JSON object the file is not JSON Lines and that stops the command.
    """
    if container == "json":
        for _, obj in iter_array(path):
            if isinstance(obj, dict):
                return set(obj)
            if not isinstance(obj, RecordError):
                raise InputError(f"{path}: a JSON array of {type(obj).__name__}s; expected an array of objects")
        return None
    problem = ""
    for tried, (number, line) in enumerate(iter_lines(path)):
        if tried == 50:
            break
        try:
            if isinstance(line, RecordError):
                raise line
            obj = parse_line(line)
        except RecordError as e:
            problem = problem or f"line {number}: {e.detail}"
            continue
        if isinstance(obj, dict):
            return set(obj)
        problem = problem or f"line {number} is a JSON {type(obj).__name__}, not an object"
    if not problem:
        return None
    raise InputError(f"{path}: not JSON Lines with one object per line ({problem})")


def count_lines(path: Path) -> int:
    """Non-blank lines: the number of records, for the progress bar's total."""
    return sum(1 for _ in iter_lines(path))
