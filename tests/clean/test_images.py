"""Image cleaning on generated inputs: every bad kind gets its reason, every odd mode becomes RGB."""

from __future__ import annotations

import io
import resource
import time

import pytest
from clean_corpus import encoded, gradient, image_bytes, png_claiming
from PIL import Image as PILImage

from finereason.clean.images import clean_image
from finereason.io.images import ImageDecodeError, phash
from finereason.schema import Image


def _open(data: bytes) -> PILImage.Image:
    im = PILImage.open(io.BytesIO(data))
    im.load()
    return im


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("zero_bytes", "image_empty"),
        ("corrupt", "image_undecodable"),
        ("truncated", "image_truncated"),
        ("truncated_png", "image_truncated"),
        ("bomb", "image_too_large"),
        ("sliver", "image_extreme_aspect"),
    ],
)
def test_bad_images_are_refused_with_their_reason(kind: str, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as err:
        clean_image(Image(bytes=image_bytes(kind)))
    assert err.value.reason == reason


def test_bomb_header_is_refused_before_decoding() -> None:
    """A 1e10-pixel header would need 30 GB to decode; refusal must be instant and allocation-free."""
    data = png_claiming(100_000, 100_000)
    assert len(data) < 200
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(ImageDecodeError) as err:
        clean_image(Image(bytes=data))
    assert err.value.reason == "image_too_large"
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: < 100 MB


def test_header_just_over_our_limit_is_refused_too() -> None:
    # Below Pillow's own bomb limit (179 Mpx) but above ours (64 Mpx): our guard decides.
    with pytest.raises(ImageDecodeError) as err:
        clean_image(Image(bytes=png_claiming(9000, 8000)))
    assert err.value.reason == "image_too_large"
    assert "64000000" in err.value.detail


def test_aspect_check_can_be_turned_off() -> None:
    cleaned, _ = clean_image(Image(bytes=image_bytes("sliver")), max_aspect=0)
    assert (cleaned.width, cleaned.height) == (2048, 5)


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [("palette", "PNG"), ("la", "PNG"), ("rgba", "PNG"), ("i16", "PNG"), ("cmyk", "JPEG"), ("gif", "PNG")],
)
def test_modes_become_rgb_and_are_reencoded(kind: str, fmt: str) -> None:
    src = Image(bytes=image_bytes(kind), path=f"{kind}.img")
    cleaned, edits = clean_image(src)
    out = _open(cleaned.bytes)
    assert out.mode == "RGB" and out.format == fmt  # JPEG stays JPEG (q95), the rest become PNG
    assert (cleaned.width, cleaned.height) == out.size == (64, 48)
    assert cleaned.bytes != src.bytes and cleaned.sha256 != src.sha256
    assert cleaned.phash == phash(out) and cleaned.path == src.path
    assert "converted_rgb" in edits or kind == "gif"


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    cleaned, _ = clean_image(Image(bytes=image_bytes("i16")))
    out = _open(cleaned.bytes)
    lo, hi = out.convert("L").getextrema()
    assert lo == 0 and hi == 255  # a clip to 8 bits would turn nearly everything white


def test_rgba_is_flattened_on_white() -> None:
    im = PILImage.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    cleaned, _ = clean_image(Image(bytes=encoded(im)))
    assert _open(cleaned.bytes).getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("kind", ["rgb_png", "rgb_jpeg", "tiny"])
def test_clean_images_keep_their_bytes(kind: str) -> None:
    src = Image(bytes=image_bytes(kind), sha256="", width=0, height=0, phash=None)
    cleaned, edits = clean_image(src)
    assert edits == []
    assert cleaned.bytes == src.bytes and cleaned.sha256 == src.sha256
    size = _open(src.bytes).size
    assert (cleaned.width, cleaned.height) == size  # facts filled in even when bytes are kept
    assert cleaned.phash is not None and len(cleaned.phash) == 16


def test_huge_valid_image_is_resized_keeping_aspect() -> None:
    cleaned, edits = clean_image(Image(bytes=image_bytes("huge")))
    assert edits == ["resized"]
    assert (cleaned.width, cleaned.height) == (2048, 123)  # 5000×300 scaled by 2048/5000
    assert _open(cleaned.bytes).format == "PNG"


def test_resized_jpeg_stays_jpeg_and_max_side_is_configurable() -> None:
    cleaned, edits = clean_image(Image(bytes=encoded(gradient(800, 600), "JPEG")), max_side=400)
    assert edits == ["resized"]
    out = _open(cleaned.bytes)
    assert out.format == "JPEG" and out.size == (400, 300)


def test_exif_rotation_is_applied() -> None:
    im = gradient(60, 20)
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    cleaned, edits = clean_image(Image(bytes=encoded(im, "JPEG", exif=exif.tobytes())))
    assert "exif_rotated" in edits
    assert (cleaned.width, cleaned.height) == (20, 60)
