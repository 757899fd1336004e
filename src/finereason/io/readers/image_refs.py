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


def _read_inside(path: str, base: str, root: str) -> bytes:
    if "\x00" in path:
        raise bad_field("image", "a path without NUL bytes", path)
    full = Path(path) if os.path.isabs(path) else Path(base) / path
    outside = RecordError("path_outside_dataset", f"{path}: resolves outside {root}; refused, not read (see --image-root)")
    # First lexically (".." folded, nothing touched on disk), so a path that names a place
    # outside the dataset is refused without probing it; then resolve() follows every symlink,
    # so a link inside that points out of the dataset is caught too.
    lexical = Path(os.path.normpath(full))
    if not (lexical.is_relative_to(os.path.abspath(root)) or lexical.is_relative_to(_real(root))):
        raise outside
    try:
        real = full.resolve()
    except RuntimeError as e:  # Python < 3.13 reports a symlink loop as RuntimeError
        raise RecordError("image_unreadable", f"{path}: {e}") from None
    except OSError as e:  # ELOOP from 3.13 on, and any other failure while following links
        raise RecordError("image_unreadable", f"{path}: {e.strerror or e}") from None
    if not real.is_relative_to(_real(root)):
        raise outside
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

