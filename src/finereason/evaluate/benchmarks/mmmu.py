"""MMMU validation (Yue et al. 2024): 900 college-level questions over 30 subjects in 6 disciplines.

Published as one parquet per subject (``<Subject>/validation-*.parquet``) with ``id`` (e.g.
``validation_Art_Theory_12``), ``question`` (with ``<image N>`` tags), ``options`` (a Python list
literal *as a string*), ``answer``, ``question_type`` (multiple-choice | open) and
``image_1``…``image_7`` (Hugging Face image structs). The options string is parsed with
``ast.literal_eval``, which reads literals only and never runs code.

Scoring is MMMU's own: multiple choice by letter (explicit answer first, then MMMU's candidate
scan) and open questions by ``eval_open`` over ``parse_open_response``-style candidates; when an
open answer fails that rule but the reply states an explicit final answer, the verification
cascade (numeric, math-verify) gets a say, recorded in ``verdict_by``. Never a random letter.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from finereason.evaluate.benchmarks.base import (
    Benchmark,
    Score,
    concat_tables,
    failed_item,
    image_ref,
    read_table,
    require_columns,
    text_cell,
)
from finereason.evaluate.items import BenchmarkError, EvalItem, ItemError, option_letters
from finereason.evaluate.parsing import MAX_REPLY_CHARS, open_candidates, open_matches, parse_choice, visible_text
from finereason.verify.extract import extract_answer

#: MMMU's disciplines and their subjects (the subject is the middle part of an item id).
DISCIPLINES: dict[str, tuple[str, ...]] = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": (
        "Basic_Medical_Science",
        "Clinical_Medicine",
        "Diagnostics_and_Laboratory_Medicine",
        "Pharmacy",
        "Public_Health",
    ),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": (
        "Agriculture",
        "Architecture_and_Engineering",
        "Computer_Science",
        "Electronics",
        "Energy_and_Power",
        "Materials",
        "Mechanical_Engineering",
    ),
}
_SUBJECT_TO_DISCIPLINE = {s: d for d, subjects in DISCIPLINES.items() for s in subjects}
_ID_RE = re.compile(r"^[a-z]+_(.+?)_\d+$")
_TAG_RE = re.compile(r"<image (\d+)>")
_COLUMNS = (("id",), ("question",), ("options",), ("answer",), ("question_type",))


_SOURCE = "__finereason_source_file"


def _with_source(table: pa.Table, path: Path) -> pa.Table:
    """Remember each row's file, so an error names the subject file it came from."""
    return table.append_column(_SOURCE, pa.array([str(path)] * table.num_rows, pa.string()))


def subject_of(item_id: str) -> str:
    """``validation_Art_Theory_12`` → ``Art_Theory``; the id itself when it has another shape."""
    m = _ID_RE.match(item_id)
    return m.group(1) if m else item_id


def parse_literal_list(text: str, what: str, item_id: str) -> list[str]:
    """A Python list literal of strings (MMMU's ``options``); :class:`ItemError` if it is anything else."""
    try:
        value = ast.literal_eval(text) if text.strip() else []
    except (ValueError, SyntaxError, MemoryError, RecursionError) as err:
        raise ItemError(f"item {item_id}: {what} is not a list literal: {text[:80]!r} ({type(err).__name__})") from err
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ItemError(f"item {item_id}: {what} is not a list of strings: {text[:80]!r}")
    return [str(v) for v in value]


class MMMU(Benchmark):
    name = "mmmu"
    title = "MMMU validation"
    formats = "per-subject parquet files (a folder or one file); the validation split when a folder holds several"
    id_fields = ("id",)
    macro_over = "subcategory"
    category_order = tuple(DISCIPLINES)

    def load(self, path: Path) -> list[EvalItem]:
        if path.is_dir():
            files = sorted(path.rglob("*.parquet"))
            chosen = [f for f in files if f.name.startswith("validation")] or files
            if not chosen:
                raise BenchmarkError(f"{path}: no .parquet files in this folder (MMMU)")
            table = concat_tables([_with_source(read_table(f, what="MMMU"), f) for f in chosen], path)
        else:
            table = _with_source(read_table(path, what="MMMU"), path)
        cols = require_columns(table, path, _COLUMNS, "MMMU")
        image_cols = [f"image_{i}" for i in range(1, 8) if f"image_{i}" in table.column_names]
        items = []
        for row_no, row in enumerate(table.to_pylist()):
            item_id = text_cell(row[cols["id"]]) or f"row{row_no}"
            subject = subject_of(item_id)
            source = row.pop(_SOURCE)
            try:
                items.append(self._item(row, cols, image_cols, item_id, subject, source))
            except ItemError as err:
                items.append(failed_item(item_id, f"{source}: {err}", subcategory=subject,
                                         category=_SUBJECT_TO_DISCIPLINE.get(subject, "Other")))
        return items

    def _item(self, row: dict, cols: dict[str, str], image_cols: list[str], item_id: str, subject: str,
              source: str) -> EvalItem:
        question = text_cell(row[cols["question"]])
        qtype = text_cell(row[cols["question_type"]]).strip()
        if qtype not in ("multiple-choice", "open"):
            raise ItemError(f"item {item_id}: unknown question_type {qtype!r}")
        options: dict[str, str] = {}
        if qtype == "multiple-choice":
            texts = parse_literal_list(text_cell(row[cols["options"]]), "options", item_id)
            if len(texts) < 2:
                raise ItemError(f"item {item_id}: a multiple-choice question with {len(texts)} option(s)")
            options = dict(zip(option_letters(len(texts)), texts))
        raw_answer = text_cell(row[cols["answer"]]).strip()
        answer: str | list[str] = raw_answer
        if raw_answer.startswith("["):
            answer = parse_literal_list(raw_answer, "answer", item_id)
        if not answer:
            raise ItemError(f"item {item_id}: empty answer")
        if options and any(a not in options for a in (answer if isinstance(answer, list) else [answer])):
            raise ItemError(f"item {item_id}: gold answer {answer!r} is not an option letter")
        # Only the images the text refers to, in tag order (MMMU/lmms-eval convention).
        text_with_options = question + " " + " ".join(options.values())
        tags = sorted({int(n) for n in _TAG_RE.findall(text_with_options)})
        images = []
        for n in tags:
            column = f"image_{n}"
            ref = image_ref(row.get(column), column, item_id, source) if column in image_cols else None
            if ref is None:
                raise ItemError(f"item {item_id}: <image {n}> is referenced but {column} is empty")
            images.append(ref)
        return EvalItem(
            id=item_id,
            question=question,
            answer=answer,
            options=options,
            images=images,
            category=_SUBJECT_TO_DISCIPLINE.get(subject, "Other"),
            subcategory=subject,
            question_type=qtype,  # type: ignore[arg-type]
            answer_type="letter" if options else "open",
            meta={k: text_cell(row[k]) for k in ("subfield", "topic_difficulty", "img_type") if row.get(k) is not None},
        )

    def score(self, item: EvalItem, response: str) -> Score:
        return self.score_many([item], [response])[0]

    def score_many(self, items: Sequence[EvalItem], responses: Sequence[str]) -> list[Score]:
        from finereason.verify import VerifyItem, verify_many  # its worker pool starts only if needed

        scores: list[Score | None] = []
        cascade: list[tuple[int, Any, str, str]] = []
        for item, response in zip(items, responses, strict=True):
            golds = item.answer if isinstance(item.answer, list) else [item.answer]
            if item.options:
                parsed = parse_choice(response, item.options, scan=True)
                if parsed.value is None:
                    scores.append(Score("unparsed", "none", None, parsed.method, "no option found"))
                else:
                    ok = parsed.value in golds
                    scores.append(Score("correct" if ok else "incorrect", "letter", parsed.value, parsed.method,
                                        f"predicted {parsed.value}, gold {'/'.join(golds)}"))
                continue
            if len(response) > MAX_REPLY_CHARS:
                scores.append(Score("unparsed", "none", None, "too_long",
                                    f"reply of {len(response)} characters not read"))
                continue
            visible = visible_text(response)
            if visible is None or not visible.strip():
                scores.append(Score("unparsed", "none", None, "unclosed_think" if visible is None else "none"))
                continue
            found = extract_answer(visible)
            source = found.text if found is not None else visible
            method = found.method if found is not None else "text"
            candidates = open_candidates(source)
            pred = str(candidates[0]).strip() if candidates else source
            if open_matches(item.answer, candidates):
                scores.append(Score("correct", "mmmu_open", pred, method))
                continue
            scores.append(Score("incorrect", "mmmu_open", pred, method, "no candidate matches the gold"))
            if found is not None:  # an explicit answer: let the cascade judge equivalence too
                cascade.append((len(scores) - 1, VerifyItem(found.text, golds[0], (), None, item.question), pred, method))
        if cascade:
            verdicts = verify_many([c[1] for c in cascade])
            for (index, _, pred, method), verdict in zip(cascade, verdicts, strict=True):
                if verdict.verdict == "correct":
                    scores[index] = Score("correct", verdict.verdict_by, pred, method, verdict.detail)
        return [s for s in scores if s is not None]


BENCHMARK = MMMU()
