"""Where the data files of a local Hugging Face dataset folder are.

Two shapes exist on disk: ``Dataset.save_to_disk`` (``state.json`` listing ``.arrow`` files,
``dataset_info.json`` with the features; a ``DatasetDict`` adds ``dataset_dict.json`` and one
such folder per split) and a Parquet export (``data/*.parquet``, as on the Hub). Only local
paths are read; nothing here talks to the Hub.
"""

from __future__ import annotations

import json
from pathlib import Path

from finereason.io.readers.base import InputError


def _state_files(folder: Path) -> list[Path]:
    state = folder / "state.json"
    try:
        names = [d["filename"] for d in json.loads(state.read_text()).get("_data_files", [])]
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise InputError(f"{state}: unreadable datasets state file ({e})") from e
    for name in names:
        # The file list is data too: a name must not walk out of the folder.
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise InputError(f"{state}: data file name {name!r} is not a plain file name")
    return [folder / n for n in names] or sorted(folder.glob("*.arrow"))


def saved_dataset_files(folder: Path) -> list[Path] | None:
    """The ``.arrow`` files of a ``save_to_disk`` folder in order, or ``None`` if it is not one."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = json.loads(dict_file.read_text())["splits"]
        except (OSError, ValueError, TypeError, KeyError) as e:
            raise InputError(f"{dict_file}: unreadable dataset_dict.json ({e})") from e
        files: list[Path] = []
        for split in splits:
            if not isinstance(split, str) or Path(split).name != split:
                raise InputError(f"{dict_file}: split name {split!r} is not a plain folder name")
            files += saved_dataset_files(folder / split) or []
        return files
    if (folder / "state.json").is_file():
        return _state_files(folder)
    if (folder / "dataset_info.json").is_file():
        return sorted(folder.glob("*.arrow")) or None
    return None


def parquet_export_files(folder: Path) -> list[Path]:
    """``data/**/*.parquet`` if there is a ``data/`` folder, else any Parquet file below ``folder``."""
    data = folder / "data"
    files = sorted(data.rglob("*.parquet")) if data.is_dir() else []
    return files or sorted(p for p in folder.rglob("*.parquet") if not _hidden(p.relative_to(folder)))


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)
