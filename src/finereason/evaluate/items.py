"""One benchmark question as every runner and scorer sees it, whatever file it came from.

Images are *references* (embedded bytes or a file path) decoded only when a model needs them:
scoring recorded responses (``--responses``) must work on a copy of a benchmark whose image
files were never downloaded, and a broken image must fail its own item, not the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from finereason.errors import UserError
from finereason.io.images import ImageDecodeError, decode

QuestionType = Literal["multiple-choice", "open"]


class BenchmarkError(UserError):
    """A benchmark file that cannot be read at all (missing columns, not the published format)."""


class ItemError(ValueError):
    """One item that cannot be asked or scored; it becomes an ``error`` outcome, the run goes on."""


@dataclass(frozen=True)
class ImageRef:
    """An image of an item: ``data`` when the file embeds it, else ``path`` on disk.

    ``name`` says where it came from (a column like ``image_2`` or a relative path), so an error
    can point a person at it.
    """

    name: str
    data: bytes | None = None
    path: Path | None = None
    #: The benchmark file an embedded image was read from, for error messages.
    source: str = ""

    def where(self) -> str:
        return str(self.path) if self.path is not None else f"{self.name} in {self.source or 'the benchmark file'}"

    def load(self, item_id: str) -> bytes:
        """The encoded bytes, checked to decode; raises :class:`ItemError` naming the item and the file."""
        if self.data is not None:
            data = self.data
        elif self.path is not None:
            try:
                data = self.path.read_bytes()
            except OSError as err:
                raise ItemError(f"item {item_id}: image {self.path} cannot be read ({err.strerror})") from err
        else:
            raise ItemError(f"item {item_id}: image {self.where()} is empty")
        try:
            decode(data)
        except ImageDecodeError as err:
            raise ItemError(f"item {item_id}: image {self.where()} does not decode ({err.reason}: {err.detail[:120]})") from err
        return data


@dataclass
class EvalItem:
    """A question, its gold answer and where it sits in the benchmark's category tree.

    ``options`` maps letters to option texts (empty for open questions). ``answer`` is the gold as
    the benchmark states it (a letter for MMStar/MMMU, the choice text for MathVista).
    ``answer_type`` is the benchmark's own label (``integer``, ``float``, ``list``, ``text``…) and
    ``precision`` the decimals a float answer is compared at. ``error`` is set when the item could
    not be read properly; such an item is reported as an ``error`` outcome and never asked.
    """

    id: str
    question: str
    answer: Any
    options: dict[str, str] = field(default_factory=dict)
    images: list[ImageRef] = field(default_factory=list)
    category: str = "all"
    subcategory: str = ""
    question_type: QuestionType = "multiple-choice"
    answer_type: str = "text"
    precision: int | None = None
    unit: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def is_choice(self) -> bool:
        return self.question_type == "multiple-choice"

    def load_images(self) -> list[bytes]:
        """Every image's bytes, or :class:`ItemError` for the first that is missing or broken."""
        return [ref.load(self.id) for ref in self.images]


def option_letters(n: int) -> list[str]:
    """``A, B, C…`` for ``n`` options; more than 26 is not a multiple-choice question we can letter."""
    if n > 26:
        raise ItemError(f"{n} options cannot be lettered A-Z")
    return [chr(ord("A") + i) for i in range(n)]


def format_options(options: dict[str, str]) -> str:
    """Options one a line, ``A. text``: the layout the Prism/Downscaling reasoning prompts use."""
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())
