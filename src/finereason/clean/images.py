"""Image cleaning: decode safely, upright, RGB, longest side bounded, re-encoded only if changed.

Keeping the original bytes whenever nothing had to change matters twice: a JPEG re-encoded for no
reason loses quality, and unchanged bytes keep their sha256, so exact-duplicate detection and the
request journal still recognise them. When something did change the image is written as PNG,
or as JPEG at quality 95 if it came as JPEG (a photo as PNG would be several times larger).
"""

from __future__ import annotations

from PIL import ImageOps

from finereason.io.images import MAX_DECODE_PIXELS, ImageDecodeError, decode, encode, phash, resize_max_side, to_rgb
from finereason.schema import Image

#: Formats stored as they come; anything else (GIF, BMP, TIFF, WebP …) is re-encoded as PNG so
#: every downstream reader (training processors, HTTP servers) can open it.
KEPT_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}

_ORIENTATION_TAG = 0x0112


def clean_image(
    image: Image,
    *,
    max_side: int = 2048,
    max_aspect: float = 200.0,
    max_pixels: int = MAX_DECODE_PIXELS,
) -> tuple[Image, list[str]]:
    """Return the cleaned image and what changed (``exif_rotated``, ``converted_rgb``, ``resized``,
    ``reencoded_format``), or raise :class:`ImageDecodeError` with the reason to reject it.

    ``max_aspect`` (0 disables) rejects slivers such as 10000×20: Qwen2/2.5/3-VL processors raise
    on an aspect ratio over 200, so such an image would fail a whole training batch later.
    """
    im = decode(image.bytes, max_pixels=max_pixels)
    source_format = im.format or ""
    edits: list[str] = []
    if im.getexif().get(_ORIENTATION_TAG, 1) not in (1, None):
        # The question talks about the picture as people see it, i.e. with EXIF rotation applied;
        # many model loaders ignore the tag, so the pixels are turned upright here.
        im = ImageOps.exif_transpose(im)
        edits.append("exif_rotated")
    w, h = im.size
    if max_aspect and max(w, h) / min(w, h) > max_aspect:
        raise ImageDecodeError("image_extreme_aspect", f"{w}x{h} exceeds aspect ratio {max_aspect:g}")
    if im.mode != "RGB":
        im = to_rgb(im)
        edits.append("converted_rgb")
    if max(im.size) > max_side:
        im = resize_max_side(im, max_side)
        edits.append("resized")
    if source_format not in KEPT_FORMATS:
        edits.append("reencoded_format")
    data = image.bytes
    if edits:
        fmt = KEPT_FORMATS.get(source_format, "PNG")
        data = encode(im, fmt)
        if fmt == "JPEG":  # lossy: hash the pixels a reader of the stored bytes will get
            im = decode(data, max_pixels=max_pixels)
    return Image(bytes=data, path=image.path, width=im.size[0], height=im.size[1], phash=phash(im)), edits


