"""Turn whatever a record uses to name its images into bytes, without reading outside the dataset.

Records name images as a file path (relative to the data file, or absolute), raw bytes, a
``data:image/...;base64,`` URI, or the Hugging Face ``Image`` struct ``{"bytes", "path"}``; one
image or a list. Paths come from untrusted data, so every path is resolved (symlinks included)
and refused unless it stays inside the dataset's folder, before anything is opened.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from finereason.io.readers.base import RecordError
from finereason.io.readers.fields import bad_field

#: Refuse image files bigger than this before reading them (the pixel-count guard in
#: ``io.images.decode`` only helps once the bytes are in memory).
MAX_IMAGE_FILE_BYTES = 256 << 20

_REMOTE_SCHEMES = ("http://", "https://", "s3://", "gs://", "hf://", "ftp://")
#: ``scheme://`` (RFC 3986 scheme syntax); a Windows drive letter (``C:\\``) has no ``//``.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def image_values(data: dict[str, Any]) -> list[Any]:
    """The image references of a record: ``images`` (a list) if given, else ``image`` (one or a list).

    ``None``, ``""`` and ``[]`` mean a text-only record, which is valid.
    """
    value = data.get("images")
    name = "images"
    if value is None or (isinstance(value, (list, tuple)) and not value):
        value, name = data.get("image"), "image"
    if value is None or value == "":
        return []
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not isinstance(item, (str, bytes, bytearray, memoryview, dict)) or item == "":
            raise bad_field(name, "a path, bytes, a data URI or an {bytes, path} struct", item)
    return items


@functools.lru_cache(maxsize=64)
def _real(folder: str) -> Path:
    return Path(folder).resolve()


def load_image(value: Any, base: str, root: str) -> tuple[bytes, str | None]:
    """Bytes of one image reference, and the path it came from (``None`` for inline images)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), None
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if data is not None:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise bad_field("image.bytes", "bytes", data)
            return bytes(data), path if isinstance(path, str) else None
        if not path:
            raise RecordError("image_missing", "image struct has neither bytes nor path")
        if not isinstance(path, str):
            raise bad_field("image.path", "a string", path)
        value = path
    if not isinstance(value, str):
        raise bad_field("image", "a path, bytes, a data URI or an {bytes, path} struct", value)
    if value.startswith("data:"):
        return _data_uri(value), None
    if value.lower().startswith(_REMOTE_SCHEMES):
        raise RecordError("image_remote", f"{value[:200]}: URLs are not fetched; download the images first")
    if value.lower().startswith("file:"):
        return _read_inside(_file_uri_path(value), base, root), value
    if _SCHEME.match(value):
        raise RecordError(
            "image_unsupported_scheme",
            f"{value[:200]}: unsupported URI scheme; use a path, file://, a data: URI or inline bytes")
    return _read_inside(value, base, root), value


def _file_uri_path(uri: str) -> str:
    """The local path of a ``file:`` URI (RFC 8089); one naming another host is refused."""
    parts = urllib.parse.urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise RecordError("image_unsupported_scheme", f"{uri[:200]}: a file URI on host {parts.netloc!r}; "
                          "only local files are read")
    return urllib.parse.unquote(parts.path)


def _data_uri(uri: str) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        raise RecordError("image_undecodable", "data URI is not base64-encoded")
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise RecordError("image_undecodable", f"data URI: bad base64 ({e})") from e


#: Symlinks followed for one path before it counts as a loop (Linux's own limit is 40).
MAX_LINKS = 40


def _resolve_inside(full: Path, root: str, path: str) -> Path:
    """``full`` with every symlink followed, one component at a time from the dataset's real
    folder, refused (``path_outside_dataset``) the moment it would leave that folder.

    Why not ``Path.resolve()`` and a check after: it follows a link that points out of the
    dataset to its target and looks there (``lstat``, ``readlink``) before the check can refuse
    it; here a link's target is checked before anything at the target is touched, so nothing
    outside the dataset is probed. ``..`` is applied to the path as resolved so far, as the
    kernel does, not folded away first. A loop is ``image_unreadable``.
    """
    outside = RecordError("path_outside_dataset",
                          f"{path}: resolves outside {root}; refused, not read (see --image-root)")
    top = _real(root)
    pending = _parts_below(full, root, top)
    if pending is None:
        raise outside
    current, links = top, 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if current == top:
                raise outside
            current = current.parent
            continue
        step = current / part
        try:
            if not step.is_symlink():
                current = step
                continue
            target = os.readlink(step)
        except OSError as e:
            raise RecordError("image_unreadable", f"{path}: {e.strerror or e}") from None
        links += 1
        if links > MAX_LINKS:
            raise RecordError("image_unreadable", f"{path}: too many levels of symbolic links (a loop?)")
        if os.path.isabs(target):
            below = _parts_below(Path(target), root, top)
            if below is None:
                raise outside
            current, pending = top, below + pending
        else:
            pending = list(Path(target).parts) + pending
    return current


def _parts_below(path: Path, root: str, top: Path) -> list[str] | None:
    """The components of absolute ``path`` below the dataset folder (as given or as resolved), or
    ``None`` if it does not start there; ``..`` are kept, to be applied while resolving."""
    for start in (Path(os.path.abspath(root)), top):
        if path.is_relative_to(start):
            return list(path.relative_to(start).parts)
    return None


def _read_inside(path: str, base: str, root: str) -> bytes:
    if "\x00" in path:
        raise bad_field("image", "a path without NUL bytes", path)
    full = Path(path) if os.path.isabs(path) else Path(os.path.abspath(base)) / path
    real = _resolve_inside(full, root, path)
    try:
        st = real.stat()
    except FileNotFoundError:
        raise RecordError("image_missing", f"{path}: no such file") from None
    except OSError as e:
        raise RecordError("image_unreadable", f"{path}: {e.strerror or e}") from e
    if not real.is_file():
        raise RecordError("image_missing", f"{path}: not a file")
    if st.st_size > MAX_IMAGE_FILE_BYTES:
        raise RecordError("image_too_large", f"{path}: {st.st_size} bytes exceeds {MAX_IMAGE_FILE_BYTES}")
    try:
        # O_NOFOLLOW: if the checked path is swapped for a symlink after the check, refuse it.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            return f.read(MAX_IMAGE_FILE_BYTES + 1)
    except OSError as e:
        raise RecordError("image_unreadable", f"{path}: {e.strerror or e}") from e

