"""Image codec: decode safely, normalise to RGB, bound the size, and fingerprint.

Decoding is the one place untrusted bytes meet a C decoder, so every reader and stage goes
through :func:`decode`, which refuses decompression bombs from the header before any pixel is
decoded and turns every decoder failure into :class:`ImageDecodeError` with a short reason.
"""

from __future__ import annotations

import io
import warnings

import imagehash
from PIL import Image as PILImage
from PIL import ImageFile

from finereason.schema import Image

#: Refuse images whose header claims more pixels than this (a 2048² limit after resizing does
#: not help if decoding a 60000² bomb already exhausted memory).
MAX_DECODE_PIXELS = 64_000_000


class ImageDecodeError(ValueError):
    """Bytes that are not a usable image; ``reason`` is a short key for rejection counts."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def decode(data: bytes, *, max_pixels: int = MAX_DECODE_PIXELS) -> PILImage.Image:
    """Fully decode ``data`` (so truncation is caught here, not later) with a bomb guard."""
    if not data:
        raise ImageDecodeError("image_empty", "zero bytes")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            im = PILImage.open(io.BytesIO(data))
            w, h = im.size
            if w <= 0 or h <= 0:
                raise ImageDecodeError("image_zero_size", f"{w}x{h}")
            if w * h > max_pixels:
                raise ImageDecodeError("image_too_large", f"{w}x{h} exceeds {max_pixels} pixels")
            im.load()
    except ImageDecodeError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as e:
        raise ImageDecodeError("image_too_large", str(e)) from e
    except OSError as e:
        msg = str(e)
        reason = "image_truncated" if "truncated" in msg.lower() else "image_undecodable"
        raise ImageDecodeError(reason, msg) from e
    except (ValueError, SyntaxError, EOFError) as e:
        raise ImageDecodeError("image_undecodable", str(e)) from e
    return im


def to_rgb(im: PILImage.Image) -> PILImage.Image:
    """Convert palette, LA/RGBA (on white), CMYK and 16-bit images to 8-bit RGB."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white.
        import numpy as np

        arr = np.asarray(im, dtype=np.float64)
        hi = arr.max() or 1.0
        return PILImage.fromarray((arr * (255.0 / hi)).astype("uint8"), "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = PILImage.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return im.convert("RGB")


def resize_max_side(im: PILImage.Image, max_side: int) -> PILImage.Image:
    """Shrink so the longest side is at most ``max_side``, keeping aspect (LANCZOS, as the seed)."""
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    scale = max_side / max(w, h)
    return im.resize((max(1, round(w * scale)), max(1, round(h * scale))), PILImage.LANCZOS)


def encode(im: PILImage.Image, fmt: str = "PNG") -> bytes:
    """Encode deterministically (no timestamps in PNG; fixed JPEG quality)."""
    buf = io.BytesIO()
    if fmt.upper() in ("JPEG", "JPG"):
        im.save(buf, format="JPEG", quality=95)
    else:
        im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def phash(im: PILImage.Image) -> str:
    """64-bit DCT perceptual hash as 16 hex chars (imagehash; Hamming distance ≤ 2 after JPEG/resize)."""
    return str(imagehash.phash(im))


def phash_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def make_image(data: bytes, path: str | None = None) -> Image:
    """Decode once and build the stored :class:`Image` with its size and perceptual hash."""
    im = decode(data)
    return Image(bytes=data, path=path, width=im.size[0], height=im.size[1], phash=phash(to_rgb(im)))


def image_from_pil(im: PILImage.Image, fmt: str = "PNG", path: str | None = None) -> Image:
    """Encode a rendered image (synthetic problems) into a stored :class:`Image`."""
    rgb = to_rgb(im)
    return Image(bytes=encode(rgb, fmt), path=path, width=rgb.size[0], height=rgb.size[1], phash=phash(rgb))
