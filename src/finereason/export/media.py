"""Images of an export: files named by content hash, or HF ``Image`` structs embedded in Parquet.

Files are named ``images/<sha256[:2]>/<sha256>.<ext>``: the same picture used by many samples
is written once, a rerun rewrites nothing, and 256 sub-folders keep directories small at
millions of images. The stored bytes are written unchanged (no re-encoding, so no quality loss);
the extension comes from the decoder's reading of the header, not from the source path.

Parallel workers may meet the same image at once, so a file is written under a private
temporary name and hard-linked into place: exactly one link wins, and a reader never sees a
partial file (where the filesystem has no hard links, an atomic rename of identical bytes).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from finereason.export.conversation import ExportRejection
from finereason.schema import Image

IMAGES_DIR = "images"
_EXTENSIONS = {"JPEG": "jpg", "TIFF": "tif"}


def image_extension(data: bytes) -> str:
    """File extension for encoded image bytes (``png``, ``jpg``, ``webp`` …), from the header only."""
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            fmt = im.format
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ExportRejection("image_undecodable", f"image header not readable: {e}") from e
    if not fmt:
        raise ExportRejection("image_undecodable", "image format unknown")
    return _EXTENSIONS.get(fmt, fmt.lower())


def image_name(image: Image) -> str:
    """``<sha256>.<ext>`` of the bytes themselves (a stale stored hash cannot misname a file)."""
    return f"{hashlib.sha256(image.bytes).hexdigest()}.{image_extension(image.bytes)}"


def write_image_file(out_root: Path, tmp_dir: Path, image: Image) -> str:
    """Write ``image`` under ``out_root/images`` unless it is there; return its relative path."""
    name = image_name(image)
    rel = f"{IMAGES_DIR}/{name[:2]}/{name}"
    dest = out_root / rel
    if dest.exists():
        return rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{name}.{os.getpid()}"
    tmp.write_bytes(image.bytes)
    try:
        os.link(tmp, dest)
    except FileExistsError:
        pass  # another worker wrote the same content first
    except OSError:
        os.replace(tmp, dest)  # no hard links on this filesystem: same bytes, still atomic
        return rel
    tmp.unlink()
    return rel


def hf_image(image: Image) -> dict[str, bytes | str]:
    """The HF ``datasets`` Image struct ``{bytes, path}`` with the bytes embedded."""
    return {"bytes": image.bytes, "path": image_name(image)}


def count_image_files(out_root: Path) -> int:
    root = out_root / IMAGES_DIR
    if not root.is_dir():
        return 0
    return sum(1 for sub in os.scandir(root) if sub.is_dir() for f in os.scandir(sub.path) if f.is_file())
