"""Shared fixtures: tiny models built once per session, and image bytes rendered with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

pytest.importorskip("torch")
pytest.importorskip("transformers")

from finereason.testing.tinyvlm import FAMILIES, build_tiny_lm, build_tiny_vlm  # noqa: E402


def _png(color: str = "red", size: tuple[int, int] = (96, 72)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _text_png(lines: list[str]) -> bytes:
    """Black text on white, large enough for OCR to read reliably."""
    try:
        font = ImageFont.truetype("DejaVuSans.ttf", 28)
    except OSError:
        font = ImageFont.load_default(size=28)
    image = Image.new("RGB", (720, 60 + 44 * len(lines)), "white")
    ImageDraw.Draw(image).multiline_text((24, 24), "\n".join(lines), font=font, fill="black", spacing=14)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    dirs = {family: build_tiny_vlm(family, root / family) for family in FAMILIES}
    dirs["lm"] = build_tiny_lm(root / "lm")
    return dirs


@pytest.fixture(scope="session")
def tiny_models(tiny_dirs):
    """Loaded ``hf:`` models, shared: loading is the slow part, generation on them is milliseconds."""
    from finereason.models.hf import load

    return {name: load(f"hf:{path}") for name, path in tiny_dirs.items()}


@pytest.fixture(scope="session")
def png():
    """``png(color, size) -> bytes``: a plain PNG image."""
    return _png


@pytest.fixture(scope="session")
def text_png():
    """``text_png(lines) -> bytes``: rendered text for OCR."""
    return _text_png
