"""Decide how to read each input PATH: which files, which container, which field mapping.

An input is read in two layers: the *container* (JSON Lines, a JSON array, Parquet, Arrow)
and the *mapping* of a record's fields onto a Sample (the MMFineReason release, generic
question/answer/image columns, or LLaVA conversations). ``--format`` names a combination;
``auto`` finds one from extensions, magic bytes, folder shape and the first record's fields.
A wrong ``--format`` is caught here, on the first record, with one line naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from finereason.io.readers import columnar, jsonlines
from finereason.io.readers.base import InputError
from finereason.io.readers.hf import parquet_export_files, saved_dataset_files

FORMATS = ("auto", "mmfinereason", "jsonl", "parquet", "llava", "hf")

#: Columns only the MMFineReason release has (its HF names and the paper's).
RELEASE_MARKERS = frozenset(
    {"qwen3vl_235b_thinking_response", "is_consistent", "consistency_analysis",
     "qwen3vl_235b_instruct_caption", "qwen3vl_4b_pass_rate"}
)

_CONTAINERS = {
    "auto": {"jsonl", "json", "parquet", "arrow"},
    "mmfinereason": {"jsonl", "json", "parquet", "arrow"},
    "jsonl": {"jsonl", "json"},
    "parquet": {"parquet"},
    "llava": {"jsonl", "json"},
    "hf": {"arrow", "parquet"},
}
_EXTENSIONS = {
    "jsonl": {".jsonl", ".ndjson", ".json"},
    "json": {".json"},
    "parquet": {".parquet"},
    "arrow": {".arrow"},
}
_EXPECTED = {
    "mmfinereason": "the MMFineReason release as JSON Lines or Parquet",
    "jsonl": "JSON Lines (.jsonl) or a JSON array",
    "parquet": "Parquet files",
    "llava": "LLaVA conversation JSON (a JSON array or JSON Lines)",
    "hf": "a Hugging Face datasets folder (state.json and .arrow files, or data/*.parquet)",
}
_CONTAINER_NAMES = {"jsonl": "JSON Lines", "json": "a JSON array", "parquet": "Parquet", "arrow": "Arrow"}
#: Dataset-folder metadata that is JSON but never records.
_NOT_DATA = {"dataset_info.json", "state.json", "dataset_dict.json"}


@dataclass(frozen=True)
class InputFile:
    path: Path  # as the user spelled the PATH, joined with the file's place inside it
    key: str  # the file's place inside the input, for ids that do not depend on the cwd
    container: str


@dataclass
class InputPlan:
    """How one PATH argument will be read."""

    path: str
    format: str  # mmfinereason | jsonl | parquet | llava | hf
    mapper: str  # mmfinereason | generic | llava
    files: list[InputFile]
    root: str  # absolute folder that image paths must stay inside
    image_root: str | None  # absolute folder relative image paths start from (else each file's folder)
    source: str
    why: str
    notes: list[str] = field(default_factory=list)
    #: ``(path, why)`` of files in a folder refused whole (unreadable, wrong container); each
    #: becomes one ``bad_file`` rejection so the rest of the folder is read (not with ``strict``).
    bad_files: list[tuple[str, str]] = field(default_factory=list)
    strict: bool = False

    def describe(self) -> str:
        kinds = sorted({_CONTAINER_NAMES[f.container] for f in self.files}) or ["no data"]
        n = len(self.files)
        return f"{self.path} → {self.format} ({', '.join(kinds)}; {n} file{'s' * (n != 1)}; {self.why})"


def sniff(path: Path) -> str | None:
    """The container, from magic bytes and the first character; ``None`` for an empty file."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
    if not head:
        return None
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return None
    return "json" if text.startswith(b"[") else "jsonl"


def _scan(folder: Path, fmt: str) -> list[Path]:
    exts = set().union(*(_EXTENSIONS[c] for c in _CONTAINERS[fmt]))
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or p.name in _NOT_DATA:
            continue
        if p.suffix.lower() in exts and p.is_file():
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _data_files(p: Path, fmt: str) -> tuple[list[Path], str]:
    """The files of one PATH and a few words on the folder shape that chose them."""
    if not p.is_dir():
        return [p], "a file"
    saved = saved_dataset_files(p)
    if saved is not None and fmt in ("auto", "mmfinereason", "hf"):
        return saved, "a datasets save_to_disk folder"
    if fmt == "hf":
        files = parquet_export_files(p)
        if not files:
            raise InputError(f"{p}: not {_EXPECTED['hf']}")
        return files, "a Parquet export folder"
    files = _scan(p, fmt)
    if not files:
        exts = ", ".join(sorted(set().union(*(_EXTENSIONS[c] for c in _CONTAINERS[fmt]))))
        raise InputError(f"{p}: no data files ({exts}) in this folder; expected {_EXPECTED.get(fmt, 'data files')}")
    return files, "a folder of data files"


def _first_fields(f: InputFile) -> set[str] | None:
    if f.container in ("jsonl", "json"):
        return jsonlines.first_fields(f.path, f.container)
    return columnar.first_fields(f.path, f.container)


def _mapper(fmt: str, fields: set[str] | None, file: Path) -> tuple[str, str]:
    """(mapper, why) from the first record's fields, or an error naming the file.

    ``auto`` and ``hf`` (a container, whatever its records are) choose the mapping by content.
    """
    detect = fmt in ("auto", "hf")
    listed = ", ".join(sorted(fields or ())) or "none"
    if fields is None:
        return {"mmfinereason": "mmfinereason", "llava": "llava"}.get(fmt, "generic"), "no records"
    release = sorted(RELEASE_MARKERS & fields)
    if fmt == "mmfinereason" or (detect and release):
        if not release:
            raise InputError(
                f"{file}: not the MMFineReason release format: the first record has none of "
                f"{', '.join(sorted(RELEASE_MARKERS))} (fields: {listed})"
            )
        return "mmfinereason", f"release columns: {', '.join(release[:2])}"
    if fmt == "llava" or (detect and "conversations" in fields and "question" not in fields):
        if "conversations" not in fields:
            raise InputError(
                f"{file}: not LLaVA conversations: the first record has no 'conversations' (fields: {listed})"
            )
        return "llava", "a 'conversations' field"
    if "question" not in fields:
        if "conversations" in fields:
            raise InputError(f"{file}: records have 'conversations', not 'question'; use --format llava")
        hint = "give --format" if fmt == "auto" else "name the question field"
        raise InputError(
            f"{file}: the first record has no 'question' field (fields: {listed}); "
            f"{hint} and --map SRC=question"
        )
    return "generic", "a 'question' field"


def plan_input(
    path: str,
    fmt: str,
    *,
    renames: dict[str, str] | None = None,
    source: str | None = None,
    image_root: str | None = None,
    strict: bool = False,
) -> InputPlan:
    """Check one PATH against ``fmt`` (or detect it) and list its data files in reading order.

    A file of a folder that cannot be read as ``fmt`` is set aside in ``bad_files`` and the rest
    is read; a JSON Lines file whose first lines are broken is still read line by line (each broken
    line its own rejection). With ``strict``, or when nothing at all is readable, the first such
    problem stops the command instead.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    if not os.access(p, os.R_OK):
        raise InputError(f"{path}: cannot read (permission denied)")
    paths, shape = _data_files(p, fmt)
    folder = p if p.is_dir() else p.parent
    files: list[InputFile] = []
    notes: list[str] = []
    bad_files: list[tuple[str, str]] = []
    one_file = not p.is_dir()

    def set_aside(fp: Path, e: InputError) -> None:
        if strict or one_file:
            raise e
        bad_files.append((str(fp), str(e)))

    for fp in paths:
        try:
            container = sniff(fp)
        except InputError as e:
            set_aside(fp, e)
            continue
        if container is None:
            notes.append(f"{fp}: empty file, no records")
            continue
        if container not in _CONTAINERS[fmt]:
            set_aside(fp, InputError(
                f"{fp}: this is {_CONTAINER_NAMES[container]}, but --format {fmt} expects {_EXPECTED[fmt]}"
                + ("" if fmt == "auto" else "; try --format auto")
            ))
            continue
        key = fp.relative_to(folder).as_posix() if p.is_dir() else fp.name
        files.append(InputFile(fp, key, container))
    renames = renames or {}
    fields = None
    problems: list[InputError] = []
    for f in list(files):
        try:
            fields = _first_fields(f)
        except InputError as e:
            if strict:
                raise
            problems.append(e)
            if f.container != "jsonl":
                files.remove(f)
                set_aside(f.path, e)
            else:
                notes.append(f"{e}; read line by line, each broken line rejected")
            continue
        if fields is not None:
            fields = {renames.get(name, name) for name in fields}
            break
    if fields is None and problems:
        raise problems[0]
    mapper, why = _mapper(fmt, fields, files[0].path if files else p)
    chosen = fmt
    if fmt == "auto":
        containers = {f.container for f in files}
        if mapper != "generic":
            chosen = mapper
        elif "arrow" in containers or (containers == {"parquet"} and (p / "data").is_dir()):
            chosen = "hf"
        elif containers == {"parquet"}:
            chosen = "parquet"
        else:
            chosen = "jsonl"
        why = f"auto: {shape} with {why}"
    if not files:
        notes.append(f"{path}: no records to read")
    return InputPlan(
        path=path,
        format=chosen,
        mapper=mapper,
        files=files,
        root=os.path.abspath(image_root or folder),
        image_root=os.path.abspath(image_root) if image_root else None,
        source=source or (p.stem if p.is_file() else p.resolve().name),
        why=why,
        notes=notes,
        bad_files=bad_files,
        strict=strict,
    )
