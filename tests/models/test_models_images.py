"""Images go out as data URIs, downscaled to a pixel budget only when they exceed it."""

from __future__ import annotations

import base64
import io
import random

import pytest
from PIL import Image

from finereason.models.images import (
    _header_size,
    fit_pixels,
    image_data_uri,
    sniff_mime,
)


def encode(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    img = Image.frombytes(mode, size, random.randbytes(size[0] * size[1] * len(mode)))
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_small_images_pass_unchanged(fmt: str) -> None:
    data = encode((40, 30), fmt)
    assert fit_pixels(data, 40 * 30) == (data, f"image/{fmt.lower()}")
    uri = image_data_uri(data, 10_000)
    assert uri.startswith(f"data:image/{fmt.lower()};base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
@pytest.mark.parametrize("size", [(84, 84), (300, 101), (3, 700)])
def test_header_size_matches_pillow(fmt: str, size: tuple[int, int]) -> None:
    data = encode(size, fmt)
    assert _header_size(data, sniff_mime(data)) == Image.open(io.BytesIO(data)).size


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("BMP", "image/png")]
)
def test_large_images_are_downscaled_keeping_aspect(fmt: str, mime: str) -> None:
    data = encode((800, 200), fmt)
    small, got_mime = fit_pixels(data, 10_000)
    width, height = Image.open(io.BytesIO(small)).size
    assert got_mime == mime
    assert width * height <= 10_000 and abs(width / height - 4) < 0.1


def test_rgba_png_keeps_alpha() -> None:
    small, _ = fit_pixels(encode((300, 300), "PNG", "RGBA"), 900)
    assert Image.open(io.BytesIO(small)).mode == "RGBA"


def test_no_budget_means_no_resize() -> None:
    data = encode((500, 500), "PNG")
    assert fit_pixels(data, None) == (data, "image/png")


def test_not_an_image() -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        image_data_uri(b"<html>")
