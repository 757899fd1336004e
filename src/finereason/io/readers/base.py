"""What readers hand to the ingest stage, and the two kinds of trouble they report.

Reading is split in two so that a huge input streams and both cores work: the main process only
splits files into :class:`RawRecord` units (a JSON line's bytes, a Parquet row), and the ingest
stage, in worker processes, parses them, maps fields and decodes images. A problem with one
record is a :class:`RecordError` that becomes a rejection; a problem with a whole input (wrong
format, unreadable file) is an :class:`InputError` that stops the command with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finereason.io.store import DatasetError


class InputError(DatasetError):
    """An input that cannot be read as asked: the message names the file and what was expected."""


class RecordError(Exception):
    """One record that cannot become a sample; ``reason`` is the rejection key, ``detail`` for people."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class RawRecord:
    """One unit of raw input, small enough to ship to a worker.

    ``ref`` locates it for people (``file:line`` or ``file:row``, the path as the user spelled
    it); ``key`` is the same location relative to the input, used in ids when the record has no
    id of its own, so ids do not depend on the working directory. ``base`` is the folder that
    relative image paths start from and ``root`` the folder they must stay inside.
    Exactly one of ``line`` (unparsed JSON text), ``data`` (a parsed record) or ``error`` is set.
    """

    ref: str
    key: str
    mapper: str
    source: str
    base: str
    root: str
    line: bytes | None = None
    data: Any = None
    error: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        # Stored with the sample or its rejection: made valid UTF-8 here, once for every reader.
        for name in ("ref", "key", "source"):
            object.__setattr__(self, name, valid_text(getattr(self, name)))
        if self.error is not None:
            object.__setattr__(self, "error", (self.error[0], valid_text(self.error[1])))


def valid_text(text: str) -> str:
    """``text`` as valid UTF-8: a file name's undecodable bytes, which Python holds as lone
    surrogates, become visible ``\\xNN`` escapes (UTF-8 writers refuse lone surrogates)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if _escaped(text) \
            else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _escaped(text: str) -> bool:
    """Whether every lone surrogate in ``text`` is an escaped byte (U+DC80..U+DCFF)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


@dataclass
class Draft:
    """A record mapped onto Sample fields, before its images are read and decoded.

    ``key`` is the source's own id (or the record's place in the input) for the stable id;
    ``images`` are raw references (paths, bytes, data URIs, structs); ``fields`` are further
    :class:`~finereason.schema.Sample` fields; ``meta`` values are JSON-encoded by the stage.
    """

    key: str
    source: str
    question: str
    answer: str | None  # None: an open-ended record (``answer_type: "open"``)
    images: list[Any]
    fields: dict[str, Any]
    meta: dict[str, Any]
