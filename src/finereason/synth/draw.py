"""Drawing helpers shared by the synthetic families: palette canvas, fonts, text, value axes.

Images are drawn straight onto a palette ("P") canvas rather than RGB: every family uses a
handful of flat colours, and a palette PNG encodes about three times faster and smaller than
the same picture in RGB, which is what keeps synthesis above 200 samples/s per core. Pillow
draws text on palette canvases without anti-aliasing (blended edge colours are not in the
palette); at the sizes used here (≥16 px) it stays crisp enough for OCR such as tesseract.
Output is byte-identical for a given Pillow/FreeType build; other builds may rasterise the
built-in font slightly differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache

from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from finereason.io.images import encode, phash, to_rgb
from finereason.schema import Image

RGB = tuple[int, int, int]

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)
GRID: RGB = (205, 205, 205)
HEADER: RGB = (225, 225, 225)
#: Distinct, dark-enough fills for bars, slices and lines (no yellow: it vanishes on white).
SERIES: tuple[RGB, ...] = (
    (31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14),
    (148, 103, 189), (140, 86, 75), (227, 119, 194), (23, 190, 207),
)

#: Body text size; large enough for tesseract to read digits and short words reliably.
LABEL = 18
TITLE = 22


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font (Pillow ≥ 10.1), so no system fonts are needed."""
    return ImageFont.load_default(size=size)  # type: ignore[return-value]


class Draw(ImageDraw.ImageDraw):
    """An ``ImageDraw`` that keeps its image, so :func:`text` can paste cached glyph masks."""

    def __init__(self, im: PILImage.Image) -> None:
        super().__init__(im)
        self.image = im

    def palette_index(self, fill: RGB) -> int:
        """The palette index for ``fill``, added to the palette on first use."""
        assert self.palette is not None, "synth canvases are palette images"
        return self.palette.getcolor(fill, self.image)


def canvas(width: int, height: int) -> tuple[PILImage.Image, Draw]:
    """A white palette canvas and its drawer (RGB tuples are mapped to palette entries)."""
    im = PILImage.new("P", (width, height), WHITE)
    return im, Draw(im)


_PAD = 3


@lru_cache(maxsize=8192)
def _text_mask(s: str, size: int, anchor: str) -> tuple[PILImage.Image, int, int]:
    """Rendered ``s`` as a 1-bit mask plus its offset from the anchor point.

    FreeType rendering is the costliest drawing step (~175 µs a string) while the same few
    hundred strings (tick values, numerals, labels) recur across samples; pasting a cached
    mask takes ~6 µs and gives the same pixels as drawing the text directly.
    """
    left, top, right, bottom = (int(v) for v in font(size).getbbox(s, anchor=anchor))
    # getbbox can be a pixel short of what is rendered (the last "e" of "Blue"): pad.
    left, top, right, bottom = left - _PAD, top - _PAD, right + _PAD, bottom + _PAD
    mask = PILImage.new("1", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), s, fill=1, font=font(size), anchor=anchor)
    return mask, left, top


def text(d: Draw, xy: tuple[float, float], s: str, *, size: int = LABEL, anchor: str = "mm",
         fill: RGB = BLACK) -> None:
    """Draw ``s`` anchored at ``xy`` (Pillow anchors: "mm" centre, "ls" left baseline, ...)."""
    mask, dx, dy = _text_mask(s, size, anchor)
    d.image.paste(d.palette_index(fill), (round(xy[0]) + dx, round(xy[1]) + dy), mask)


def to_image(im: PILImage.Image) -> Image:
    """Encode the palette canvas as PNG and fingerprint it exactly as ingestion would.

    ``image_from_pil`` converts to RGB before encoding, which triples the encoding time; here
    the palette image is encoded as-is while the pHash is taken from the RGB view, so
    ``make_image(img.bytes)`` reproduces the stored fingerprint.
    """
    return Image(bytes=encode(im), width=im.size[0], height=im.size[1], phash=phash(to_rgb(im)))


def nice_step(vmax: float, max_ticks: int = 8) -> int:
    """The smallest 1/2/5×10^k step that covers ``vmax`` in at most ``max_ticks`` gridlines."""
    k = 1
    while True:
        for m in (1, 2, 5):
            if math.ceil(vmax / (m * k)) <= max_ticks:
                return m * k
        k *= 10


def value_axis(d: Draw, box: tuple[int, int, int, int], top: int,
               step: int) -> Callable[[float], float]:
    """Draw a 0..``top`` vertical axis with a gridline every ``step``; return value → pixel y.

    Gridlines at every labelled tick are what make unlabelled bars and points exactly
    readable: families that omit value labels only use multiples of ``step``.
    """
    left, ytop, right, bottom = box

    def y_of(v: float) -> float:
        return bottom - (bottom - ytop) * v / top

    for v in range(0, top + 1, step):
        y = round(y_of(v))
        d.line([(left, y), (right, y)], fill=GRID if v else BLACK, width=1)
        d.line([(left - 5, y), (left, y)], fill=BLACK, width=1)
        text(d, (left - 8, y), str(v), size=16, anchor="rm")
    d.line([(left, ytop), (left, bottom)], fill=BLACK, width=2)
    return y_of
