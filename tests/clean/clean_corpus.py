"""Generated images, good and bad, and a sample builder for the clean tests."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image as PILImage

from finereason.schema import Image, Sample, stable_id


def encoded(im: PILImage.Image, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w: int, h: int) -> PILImage.Image:
    """An RGB image with structure (so perceptual hashes and JPEG round-trips mean something)."""
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :]
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None]
    arr = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype("uint8")
    return PILImage.fromarray(arr, "RGB")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width``×``height`` (a decompression bomb header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def image_bytes(kind: str) -> bytes:
    """One generated image file per kind of input the cleaner must handle."""
    if kind == "rgb_png":
        return encoded(gradient(64, 48))
    if kind == "rgb_jpeg":
        return encoded(gradient(64, 48), "JPEG", quality=90)
    if kind == "palette":
        return encoded(gradient(64, 48).convert("P", palette=PILImage.Palette.ADAPTIVE))
    if kind == "la":
        return encoded(gradient(64, 48).convert("LA"))
    if kind == "rgba":
        return encoded(gradient(64, 48).convert("RGBA"))
    if kind == "cmyk":
        return encoded(gradient(64, 48).convert("CMYK"), "JPEG", quality=90)
    if kind == "i16":
        arr = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20).astype(np.uint16)
        return encoded(PILImage.fromarray(arr))
    if kind == "gif":
        return encoded(gradient(64, 48).convert("P"), "GIF")
    if kind == "huge":
        return encoded(gradient(5000, 300))
    if kind == "tiny":
        return encoded(gradient(1, 1))
    if kind == "zero_bytes":
        return b""
    if kind == "corrupt":
        return b"this is not an image at all" * 10
    if kind == "truncated":
        return encoded(gradient(256, 256), "JPEG", quality=90)[:1500]
    if kind == "truncated_png":
        return encoded(gradient(256, 256))[:400]
    if kind == "bomb":
        return png_claiming(100_000, 100_000)
    if kind == "sliver":
        return encoded(gradient(4000, 10))
    raise ValueError(kind)


def make_sample(question: str = "What is the area of the triangle?", answer: str | None = "12",
                images: list[bytes] | None = None, **kw: object) -> Sample:
    imgs = [Image(bytes=b) for b in (images if images is not None else [image_bytes("rgb_png")])]
    return Sample(id=stable_id(question, answer, *[i.sha256 for i in imgs]), source="test",
                  question=question, answer=answer, images=imgs, **kw)
