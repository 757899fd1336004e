"""MMStar (Chen et al. 2024): 1,500 vision-indispensable multiple-choice items, 6 categories × 3.

Published as the Hugging Face parquet (``index, question, image{bytes,path}, answer, category,
l2_category``; options written inside the question as "Options: A: …, B: …") and as VLMEvalKit's
TSV (``l2-category``, base64 ``image``, often ``A``–``D`` columns). Scored by option letter, read
as VLMEvalKit does before any LLM (a cued letter, else one option's text named); the
macro average is over the 18 subcategories (as lmms-eval and the Downscaling paper report it).
"""

from __future__ import annotations

from pathlib import Path

from finereason.clean.options import options_in
from finereason.evaluate.benchmarks.base import (
    Benchmark,
    Score,
    failed_item,
    image_ref,
    read_table,
    require_columns,
    text_cell,
)
from finereason.evaluate.items import EvalItem, ItemError
from finereason.evaluate.statements import read_choice

#: MMStar's categories and their subcategories, in the benchmark's order.
TAXONOMY: dict[str, tuple[str, ...]] = {
    "coarse perception": ("image scene and topic", "image style & quality", "image emotion"),
    "fine-grained perception": ("object counting", "recognition", "localization"),
    "instance reasoning": (
        "single-instance reasoning",
        "cross-instance attribute reasoning",
        "cross-instance relation reasoning",
    ),
    "logical reasoning": ("code & sequence reasoning", "diagram reasoning", "common reasoning"),
    "science & technology": (
        "biology & chemistry & physics",
        "electronics & energy & mechanical eng.",
        "geography & earth science & agriculture",
    ),
    "math": ("geometry", "numeric commonsense and calculation", "statistical reasoning"),
}
#: VLMEvalKit's exact matching (``can_infer_option`` then ``can_infer_text``): one option letter
#: cued, else one option's text named; no yes/no reading, and no LLM unless one is given.
VLMEVALKIT_RULES = frozenset({"cued_letter", "option_text"})
_COLUMNS = (("index",), ("question",), ("answer",), ("category",), ("l2_category", "l2-category"), ("image",))


class MMStar(Benchmark):
    name = "mmstar"
    title = "MMStar"
    formats = "parquet (Hugging Face) or TSV (VLMEvalKit, base64 images)"
    id_fields = ("index", "id", "question_id")
    macro_over = "subcategory"
    category_order = tuple(TAXONOMY)

    def load(self, path: Path) -> list[EvalItem]:
        table = read_table(path, what="MMStar")
        cols = require_columns(table, path, _COLUMNS, "MMStar")
        letter_cols = [c for c in "ABCDEF" if c in table.column_names]
        items = []
        for row_no, row in enumerate(table.to_pylist()):
            item_id = text_cell(row[cols["index"]]) or f"row{row_no}"
            try:
                items.append(self._item(row, cols, letter_cols, item_id, path))
            except ItemError as err:
                items.append(failed_item(item_id, f"{path}: {err}", category=text_cell(row[cols["category"]]) or "all",
                                         subcategory=text_cell(row[cols["l2_category"]])))
        return items

    def _item(self, row: dict, cols: dict[str, str], letter_cols: list[str], item_id: str, path: Path) -> EvalItem:
        question = text_cell(row[cols["question"]])
        if not question.strip():
            raise ItemError(f"item {item_id}: empty question")
        inline = options_in(question)
        columns = {c: text_cell(row[c]) for c in letter_cols if text_cell(row[c]).strip()}
        options = columns or inline
        if len(options) < 2:
            raise ItemError(f"item {item_id}: options are malformed (found {sorted(options) or 'none'})")
        answer = text_cell(row[cols["answer"]]).strip().upper()
        if answer not in options:
            raise ItemError(f"item {item_id}: gold answer {answer!r} is not one of the options {sorted(options)}")
        image = image_ref(row[cols["image"]], "image", item_id, path)
        if image is None:
            raise ItemError(f"item {item_id}: no image")
        return EvalItem(
            id=item_id,
            question=question,
            answer=answer,
            options=options,
            images=[image],
            category=text_cell(row[cols["category"]]) or "unknown",
            subcategory=text_cell(row[cols["l2_category"]]) or "unknown",
            meta={"options_in_question": bool(inline) and set(inline) == set(options)},
        )

    def score(self, item: EvalItem, response: str) -> Score:
        parsed = read_choice(response, item.options, rules=VLMEVALKIT_RULES)
        if parsed.value is None:
            return Score("unparsed", "none", None, parsed.method, "no option letter found")
        ok = parsed.value == item.answer
        return Score("correct" if ok else "incorrect", "letter", parsed.value, parsed.method,
                     f"predicted {parsed.value}, gold {item.answer}")


BENCHMARK = MMStar()
