"""Readers: every supported input, as a stream of raw records for the ingest stage.

``plan_input`` decides how a PATH is read (``detect``); ``iter_records`` streams it as
:class:`RawRecord` units in a fixed order (so shard i is the same records on every run);
``MAPPERS`` turn one parsed record into drafts (``mmfinereason``, ``generic``, ``llava``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from finereason.io.readers import columnar, generic, jsonlines, llava, mmfinereason
from finereason.io.readers.base import Draft, InputError, RawRecord, RecordError
from finereason.io.readers.detect import FORMATS, InputFile, InputPlan, plan_input

Mapper = Callable[[dict[str, Any], str, str], Sequence[Draft | RecordError]]

MAPPERS: dict[str, Mapper] = {
    "mmfinereason": mmfinereason.map_record,
    "generic": generic.map_record,
    "llava": llava.map_record,
}

#: Every field name some mapping understands: the targets ``--map SRC=DST`` may name.
MAP_TARGETS = generic.KNOWN | llava.KNOWN | mmfinereason.KNOWN

#: The rejection reason of a whole file that could not be read.
BAD_FILE = "bad_file"

#: Above this many bytes of JSON Lines, the progress bar goes without a total rather than
#: reading the input twice.
COUNT_LIMIT_BYTES = 2 << 30


def iter_records(plan: InputPlan) -> Iterator[RawRecord]:
    """The raw records of one input, file by file, in order.

    A file refused while planning, or one that fails part-way (an I/O error, a damaged Parquet
    page), is one ``bad_file`` record after whatever it yielded, and the next file is read; with
    ``plan.strict`` that stops the command instead.
    """
    for path, why in plan.bad_files:
        yield RawRecord(path, path, plan.mapper, plan.source, plan.root, plan.root, error=(BAD_FILE, why))
    for f in plan.files:
        try:
            yield from _file_records(plan, f)
        except Exception as e:  # noqa: BLE001 - any failure of one file is that file's rejection
            if isinstance(e, InputError):
                why = str(e)
            elif isinstance(e, OSError):
                why = f"{f.path}: cannot read ({e.strerror or e})"
            else:
                why = f"{f.path}: {type(e).__name__}: {e}"
            if plan.strict:
                raise InputError(why) from e
            yield RawRecord(str(f.path), f.key, plan.mapper, plan.source, plan.root, plan.root, error=(BAD_FILE, why))


def _file_records(plan: InputPlan, f: InputFile) -> Iterator[RawRecord]:
    base = plan.image_root or str(f.path.absolute().parent)

    def raw(ref: str, key: str, **payload: Any) -> RawRecord:
        return RawRecord(ref, key, plan.mapper, plan.source, base, plan.root, **payload)

    if f.container == "jsonl":
        for number, line in jsonlines.iter_lines(f.path):
            ref, key = f"{f.path}:{number}", f"{f.key}:{number}"
            if isinstance(line, RecordError):
                yield raw(ref, key, error=(line.reason, line.detail))
            else:
                yield raw(ref, key, line=line)
    elif f.container == "json":
        for index, item in jsonlines.iter_array(f.path):
            ref, key = f"{f.path}[{index}]", f"{f.key}[{index}]"
            if isinstance(item, RecordError):
                yield raw(ref, key, error=(item.reason, item.detail))
            else:
                yield raw(ref, key, data=item)
    else:
        for row, data in columnar.iter_rows(f.path, f.container):
            yield raw(f"{f.path}:{row}", f"{f.key}:{row}", data=data)


def count_records(plans: list[InputPlan]) -> int | None:
    """How many raw records there are, when that is cheap to know (for the progress bar);
    ``None`` when it is not, or when a file cannot be counted (reading it will say why)."""
    try:
        return _count_records(plans)
    except (OSError, InputError):
        return None


def _count_records(plans: list[InputPlan]) -> int | None:
    total = sum(len(p.bad_files) for p in plans)
    jsonl = [f for p in plans for f in p.files if f.container == "jsonl"]
    if any(f.container == "json" for p in plans for f in p.files):
        return None
    if sum(f.path.stat().st_size for f in jsonl) > COUNT_LIMIT_BYTES:
        return None
    for p in plans:
        for f in p.files:
            if f.container == "jsonl":
                total += jsonlines.count_lines(f.path)
            else:
                total += columnar.count_rows(f.path, f.container)
    return total


__all__ = [
    "BAD_FILE", "FORMATS", "MAPPERS", "MAP_TARGETS", "Draft", "InputError", "InputPlan", "RawRecord", "RecordError",
    "count_records", "iter_records", "plan_input",
]
