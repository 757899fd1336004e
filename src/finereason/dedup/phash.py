"""Perceptual-hash helpers: which hashes carry information, and pigeonhole keys for ≤ d search.

``imagehash.phash`` sets a bit where a low-frequency DCT coefficient is above the median of the
64, so an image with any structure has exactly 32 bits set. Fewer bits set means many
coefficients tie at the median, i.e. are exactly zero: a flat or smooth image. All such images
collapse onto a few hashes (all-white and all-grey → 8000000000000000, all-black → 0), so a match
between them says nothing; those hashes are skipped (:func:`informative`).

A mostly blank picture with a small mark (a label in one corner) still sets 32 bits, and two
different ones can hash identically. How little of it is drawn on gives it away, so images of
benchmarks, which are few and decoded once, are also checked with :func:`mostly_blank`; the
training side is not decoded (that would cost more than all the rest of the signature pass),
which is safe because a blank image cannot come within a few bits of an informative one except
by chance (about 4e-14 per pair at distance 4).
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from finereason.io.images import ImageDecodeError, decode, to_rgb

#: Hashes with fewer set bits come from flat or smooth images (see module docstring).
MIN_SET_BITS = 24
#: Share of a 32×32 grey thumbnail's cells that must differ from the background (the median)
#: by more than ``INK_LEVEL`` grey levels for an image to count as drawn on. Measured: a corner
#: label or a dot covers 0.1–1.9 % (depending on the page size, which is why the standard
#: deviation, 0.7–22 for the same pictures, does not work), one straight line 3 %, a bare
#: triangle 7 %, the sparsest real MMFineReason image 8.8 %, synthetic problems ≥ 6.7 %.
MIN_INK = 0.025
INK_LEVEL = 8


def parse(phash: str | None) -> int | None:
    """The hash as an int, or None for a missing or malformed one."""
    if not phash:
        return None
    try:
        value = int(phash, 16)
    except ValueError:
        return None
    return value if 0 <= value < 1 << 64 else None


def informative(phash: str | None) -> int | None:
    """The hash as an int if it can tell images apart, else None (flat/smooth or missing)."""
    value = parse(phash)
    if value is None or value.bit_count() < MIN_SET_BITS:
        return None
    return value


def mostly_blank(data: bytes) -> bool:
    """True for an image with almost nothing drawn on it, or one that cannot be decoded (it
    cannot be compared either way)."""
    try:
        im = decode(data)
    except ImageDecodeError:
        return True
    grey = np.asarray(to_rgb(im).convert("L").resize((32, 32), PILImage.Resampling.BOX), dtype=np.float32)
    ink = np.abs(grey - np.median(grey)) > INK_LEVEL
    return float(ink.mean()) < MIN_INK


def chunk_spans(distance: int) -> list[tuple[int, int]]:
    """Split 64 bits into ``distance + 1`` contiguous (shift, width) spans.

    Pigeonhole: two hashes at most ``distance`` bits apart agree exactly on at least one span,
    so looking up each span's value finds every pair within ``distance`` without comparing all
    pairs. Used both for grouping (dedup) and for the benchmark image index.
    """
    pieces = distance + 1
    if not 1 <= pieces <= 64:
        raise ValueError(f"phash distance must be between 0 and 63, got {distance}")
    base, extra = divmod(64, pieces)
    spans, shift = [], 0
    for i in range(pieces):
        width = base + (1 if i < extra else 0)
        spans.append((shift, width))
        shift += width
    return spans


def span_values(hashes: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """The span's bits of each uint64 hash, as uint64."""
    shift, width = span
    mask = np.uint64((1 << width) - 1)
    return (hashes >> np.uint64(shift)) & mask


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between aligned uint64 hash arrays."""
    return np.bitwise_count(np.bitwise_xor(a, b))
