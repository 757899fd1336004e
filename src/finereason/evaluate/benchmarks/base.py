"""What a benchmark is to the evaluator, and the file-reading helpers the loaders share.

A benchmark knows three things: how to read its published files into :class:`EvalItem`s, how to
write an item's question for a prompt, and how to score a response by its own rule. Everything
else (models, prompts, caching, statistics, reports) is shared.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from finereason.errors import UserError
from finereason.evaluate.items import BenchmarkError, EvalItem, ImageRef, ItemError, format_options
from finereason.schema import VERDICTS


@dataclass(frozen=True)
class Score:
    """How one response fared. ``pred`` is the parsed answer as the benchmark compares it.

    ``verdict`` is one of correct / incorrect / unparsed / error; ``verdict_by`` names the rule
    that decided (e.g. ``letter``, ``mmmu_open``, ``numeric``, ``math_verify``) and ``method`` how
    the answer was found in the response (``answer_line``, ``boxed``, ``scan``, ``none`` …).
    """

    verdict: str
    verdict_by: str
    pred: str | None = None
    method: str = "none"
    detail: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def unparsed(method: str, detail: str = "no answer found in the response") -> Score:
    return Score("unparsed", "none", None, method, detail)


class Benchmark:
    """Base class: subclasses set the class attributes and implement :meth:`load` and :meth:`score`.

    ``id_fields`` are the keys an item id may appear under in a recorded-responses file (the
    benchmark's own output format first). ``macro_over`` is the grouping the macro average is
    taken over (MMStar: its 18 subcategories).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    formats: ClassVar[str]
    id_fields: ClassVar[tuple[str, ...]] = ("id",)
    macro_over: ClassVar[Literal["category", "subcategory"]] = "category"
    #: Category names in the benchmark's own order, for tables; others are appended as found.
    category_order: ClassVar[tuple[str, ...]] = ()
    #: Scoring protocols offered (``eval --protocol``): ``strict`` everywhere; MathVista adds ``official``.
    protocols: ClassVar[tuple[str, ...]] = ("strict",)

    def load(self, path: Path) -> list[EvalItem]:
        raise NotImplementedError

    def question_text(self, item: EvalItem) -> str:
        """The question as the model reads it: stem, options one a line, any answer-type hint."""
        if item.options and not item.meta.get("options_in_question"):
            return f"{item.question.strip()}\n{format_options(item.options)}"
        return item.question.strip()

    def score(self, item: EvalItem, response: str) -> Score:
        raise NotImplementedError

    def score_many(self, items: Sequence[EvalItem], responses: Sequence[str]) -> list[Score]:
        """Score many at once; override where a batch is cheaper (the verifier's worker pool)."""
        return [self.score(item, response) for item, response in zip(items, responses, strict=True)]

    def with_protocol(self, protocol: str) -> Benchmark:
        """This benchmark scoring by ``protocol``; a UserError names the protocols it offers."""
        if protocol != "strict":
            raise UserError(f"--protocol {protocol}: {self.name} offers only {', '.join(self.protocols)}")
        return self

    def score_extractions(self, items: Sequence[EvalItem], extractions: Sequence[str]) -> list[Score]:
        """Score ``--extractor`` readings of replies; by default each is read like a reply."""
        return self.score_many(items, extractions)


# ---------------------------------------------------------------------------------- file helpers
def read_table(path: Path, *, what: str) -> pa.Table:
    """A Parquet, TSV or CSV file (or every Parquet file of a folder, in name order) as one table."""
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
        if not files:
            raise BenchmarkError(f"{path}: no .parquet files in this folder ({what})")
        return concat_tables([read_table(f, what=what) for f in files], path)
    if not path.exists():
        raise BenchmarkError(f"{path}: file not found ({what})")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".tsv", ".csv"):
            return pa_csv.read_csv(
                path,
                parse_options=pa_csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True),
                read_options=pa_csv.ReadOptions(block_size=1 << 26),
                convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
            )
    except (pa.ArrowInvalid, OSError) as err:
        raise BenchmarkError(f"{path}: cannot be read as {suffix[1:]}: {err}") from err
    raise BenchmarkError(f"{path}: expected a .parquet, .tsv or .csv file for {what}")


def concat_tables(tables: list[pa.Table], where: Path) -> pa.Table:
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise BenchmarkError(f"{where}: its files do not share one schema: {err}") from err


def require_columns(table: pa.Table, path: Path, needed: Sequence[Sequence[str]], what: str) -> dict[str, str]:
    """Map each needed column to the name the file uses (each entry lists accepted spellings).

    Raises :class:`BenchmarkError` naming the file and every missing column.
    """
    found: dict[str, str] = {}
    missing = []
    for spellings in needed:
        name = next((s for s in spellings if s in table.column_names), None)
        if name is None:
            missing.append("/".join(spellings))
        else:
            found[spellings[0]] = name
    if missing:
        raise BenchmarkError(
            f"{path}: not the published {what} format: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(table.column_names)})"
        )
    return found


def image_ref(value: Any, name: str, item_id: str, source: Path | str = "") -> ImageRef | None:
    """An image cell in any published encoding: base64 text (VLMEvalKit TSV), a Hugging Face image
    struct ``{bytes, path}``, or raw bytes. None for an empty cell; :class:`ItemError` for base64
    that does not decode."""
    if value is None:
        return None
    if isinstance(value, dict):
        data = value.get("bytes")
        if data:
            return ImageRef(name, data=bytes(data), source=str(source))
        return None
    if isinstance(value, (bytes, bytearray)):
        return ImageRef(name, data=bytes(value), source=str(source)) if value else None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return ImageRef(name, data=base64.b64decode(value, validate=True), source=str(source))
        except (binascii.Error, ValueError) as err:
            raise ItemError(f"item {item_id}: {name} is not valid base64 ({err})") from err
    raise ItemError(f"item {item_id}: {name} has an unsupported type {type(value).__name__}")


def text_cell(value: Any) -> str:
    """A cell as text; numbers written without a spurious ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def failed_item(item_id: str, message: str, **fields: Any) -> EvalItem:
    """An item that could not be read; it is reported as an ``error`` outcome with ``message``."""
    return EvalItem(id=item_id, question=fields.pop("question", ""), answer=fields.pop("answer", ""),
                    error=message, **fields)
