"""MathVista testmini (Lu et al. 2024): 1,000 math-in-visual-context problems.

Published as ``testmini.json`` (a mapping ``pid → problem`` with ``question, image`` (a path
relative to the JSON's folder), ``choices, unit, precision, answer, question_type
(multi_choice|free_form), answer_type (text|integer|float|list), metadata{task, context, …}``)
and as the Hugging Face parquet (same fields plus ``decoded_image``).

Scoring follows MathVista's ``calculate_score.py``: a chosen letter becomes its choice text and
must equal the answer; integers compare as integers; floats after rounding to ``precision``
decimals; lists element-wise. Replies are read with the official GPT-4 extractor's leniency, as
rules that abstain (:mod:`finereason.evaluate.statements`): a number stated in a sentence, a yes/no
statement for a yes/no choice, an option named by its text or cued by its letter. What they cannot
read is *unparsed*, or goes to ``--extractor`` (an LLM with MathVista's own extraction prompt);
by default it is never snapped to the closest choice by edit distance as the official scorer does.
``--protocol official`` adds the deterministic rest of the official scorer
(:mod:`.mathvista_official`): empty replies, the nearest-choice snap, its number normalisation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from finereason.errors import UserError
from finereason.evaluate.benchmarks import mathvista_official as official
from finereason.evaluate.benchmarks.base import Benchmark, Score, failed_item, image_ref, read_table, require_columns
from finereason.evaluate.items import BenchmarkError, EvalItem, ImageRef, ItemError, format_options, option_letters
from finereason.evaluate.parsing import MAX_REPLY_CHARS, TERMINAL_METHODS, Parsed, numbers_in, visible_text
from finereason.evaluate.statements import PROSE_RULES, read_choice, read_number, stated_answer
from finereason.verify.extract import extract_answer

_ANSWER_TYPES = ("text", "integer", "float", "list")
TASKS = (
    "figure question answering",
    "geometry problem solving",
    "math word problem",
    "textbook question answering",
    "visual question answering",
)


class MathVista(Benchmark):
    name = "mathvista"
    title = "MathVista testmini"
    formats = "testmini.json + image files (GitHub/Hugging Face), or the Hugging Face parquet"
    id_fields = ("pid", "id")
    macro_over = "category"
    category_order = TASKS

    protocols = ("strict", "official")

    def __init__(self, prose_rules: frozenset[str] = PROSE_RULES, protocol: str = "strict") -> None:
        if protocol not in self.protocols:
            raise UserError(f"MathVista scoring protocol must be one of {', '.join(self.protocols)}, got {protocol!r}")
        #: Which rules of :mod:`finereason.evaluate.statements` read prose replies (all, by default).
        self.prose_rules = prose_rules
        #: ``strict`` (an answer only where the reply gives one) or ``official`` (the deterministic
        #: part of MathVista's own scorer on top: :mod:`.mathvista_official`).
        self.protocol = protocol

    def with_protocol(self, protocol: str) -> MathVista:
        return self if protocol == self.protocol else MathVista(self.prose_rules, protocol)

    def load(self, path: Path) -> list[EvalItem]:
        if path.is_dir():
            candidates = [path / "testmini.json", path / "data" / "testmini.json"]
            json_path = next((p for p in candidates if p.exists()), None)
            if json_path is None:
                parquet = sorted(path.rglob("*testmini*.parquet")) or sorted(path.rglob("*.parquet"))
                if not parquet:
                    raise BenchmarkError(f"{path}: no testmini.json or parquet file in this folder (MathVista)")
                return self._load_parquet(path)
            path = json_path
        if path.suffix.lower() == ".parquet":
            return self._load_parquet(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BenchmarkError(f"{path}: file not found (MathVista)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise BenchmarkError(f"{path}: not valid JSON: {err}") from err
        if isinstance(data, dict):
            problems = [(str(k), v) for k, v in data.items()]
        elif isinstance(data, list):
            problems = [(str(p.get("pid", i)) if isinstance(p, dict) else str(i), p) for i, p in enumerate(data)]
        else:
            raise BenchmarkError(f"{path}: expected a JSON object of pid → problem (MathVista testmini.json)")
        return [self._item_or_error(pid, problem, path, path.parent) for pid, problem in problems]

    def _load_parquet(self, path: Path) -> list[EvalItem]:
        table = read_table(path, what="MathVista")
        require_columns(table, path, (("pid",), ("question",), ("answer",), ("question_type",), ("answer_type",)),
                        "MathVista")
        return [self._item_or_error(str(row["pid"]), row, path, None) for row in table.to_pylist()]

    def _item_or_error(self, pid: str, problem: Any, path: Path, image_root: Path | None) -> EvalItem:
        try:
            if not isinstance(problem, dict):
                raise ItemError(f"item {pid}: not an object")
            return self._item(pid, problem, image_root, path)
        except ItemError as err:
            meta = problem.get("metadata") if isinstance(problem, dict) else None
            meta = meta if isinstance(meta, dict) else {}
            return failed_item(pid, f"{path}: {err}", category=meta.get("task") or "unknown",
                               subcategory=meta.get("context") or "")

    def _item(self, pid: str, p: dict, image_root: Path | None, path: Path) -> EvalItem:
        missing = [k for k in ("question", "answer", "question_type", "answer_type") if p.get(k) in (None, "")]
        if missing:
            raise ItemError(f"item {pid}: missing field(s) {', '.join(missing)}")
        qtype, atype = p["question_type"], p["answer_type"]
        if qtype not in ("multi_choice", "free_form"):
            raise ItemError(f"item {pid}: unknown question_type {qtype!r}")
        if atype not in _ANSWER_TYPES:
            raise ItemError(f"item {pid}: unknown answer_type {atype!r}")
        options: dict[str, str] = {}
        if qtype == "multi_choice":
            choices = p.get("choices")
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, (str, int, float)) for c in choices):
                raise ItemError(f"item {pid}: choices are malformed ({choices!r})")
            options = dict(zip(option_letters(len(choices)), (str(c) for c in choices)))
            if str(p["answer"]) not in options.values():
                raise ItemError(f"item {pid}: answer {p['answer']!r} is not one of the choices")
        precision = p.get("precision")
        if atype == "float" and precision is not None:
            try:
                precision = int(precision)
            except (TypeError, ValueError):
                raise ItemError(f"item {pid}: precision {precision!r} is not an integer") from None
        meta = p.get("metadata") if isinstance(p.get("metadata"), dict) else {}
        return EvalItem(
            id=pid,
            question=str(p["question"]),
            answer=str(p["answer"]),
            options=options,
            images=self._images(pid, p, image_root, path),
            category=meta.get("task") or "unknown",
            subcategory=meta.get("context") or "unknown",
            question_type="multiple-choice" if options else "open",
            answer_type=atype,
            precision=precision if atype == "float" else None,
            unit=p.get("unit") or None,
            meta={k: meta[k] for k in ("source", "grade", "skills", "language") if k in meta},
        )

    def _images(self, pid: str, p: dict, image_root: Path | None, path: Path) -> list[ImageRef]:
        decoded = p.get("decoded_image")
        if decoded is not None:
            ref = image_ref(decoded, "decoded_image", pid, path)
            return [ref] if ref else []
        rel = p.get("image")
        if not rel:
            raise ItemError(f"item {pid}: no image")
        if image_root is None:
            raise ItemError(f"item {pid}: image {rel!r} is a path but the parquet has no decoded_image")
        return [ImageRef(str(rel), path=image_root / str(rel))]

    def question_text(self, item: EvalItem) -> str:
        text = item.question.strip()
        if item.unit:
            text += f" (Unit: {item.unit})"
        if item.options:
            return f"{text}\n{format_options(item.options)}"
        hints = {
            "integer": "The answer is an integer, e.g. 1, 2, 3.",
            "list": "The answer is a Python list, e.g. [1, 2, 3].",
        }
        if item.answer_type == "float":
            places = item.precision if item.precision is not None else 2
            hint = f"The answer is a number with {places} decimal place{'s' if places != 1 else ''}."
        else:
            hint = hints.get(item.answer_type, "")
        return f"{text}\n{hint}" if hint else text

    def score(self, item: EvalItem, response: str) -> Score:
        if len(response) > MAX_REPLY_CHARS:
            return Score("unparsed", "none", None, "too_long", f"reply of {len(response)} characters not read")
        if self.protocol == "strict":
            return self._score_strict(item, response)
        quick = official.rule_extraction(response, item)
        if quick is not None:
            method = "official_empty" if response == "" else "official_exact"
            return self._official_score(item, quick, method, "the official rules")
        reading = self._reading(item, response)
        if reading.value is None:  # nothing read: unparsed, with the strict reading's reason
            return self._score_strict(item, response)
        return self._official_score(item, reading.value, reading.method, "our rules")

    def score_extractions(self, items: Sequence[EvalItem], extractions: Sequence[str]) -> list[Score]:
        """Official protocol: the extractor's text stands in for GPT-4's extraction and is normalised
        as the official code normalises that; strict: read like any reply."""
        if self.protocol == "strict":
            return super().score_extractions(items, extractions)
        return [self._official_score(item, text, "extractor", "the extractor")
                for item, text in zip(items, extractions, strict=True)]

    def _reading(self, item: EvalItem, response: str) -> Parsed:
        """Our extraction for the official protocol: the chosen letter, or what the reply states
        when it chooses no option; the number; the answer text of a list."""
        if item.options:
            parsed = read_choice(response, item.options, rules=self.prose_rules)
            if parsed.value is not None or parsed.method in TERMINAL_METHODS:
                return parsed
            return stated_answer(response, item.options, rules=self.prose_rules)
        if item.answer_type in ("list", "text"):
            visible = visible_text(response)
            found = extract_answer(visible) if visible is not None else None
            return Parsed(found.text, found.method) if found else Parsed(None, "none")
        return read_number(response, rules=self.prose_rules)

    def _official_score(self, item: EvalItem, extraction: str, method: str, source: str) -> Score:
        norm = official.normalize(extraction, item)
        if norm.prediction is None:
            return Score("incorrect", "official", None, method,
                         f"{source} extracted {extraction!r}; the official normalisation gives None")
        ok = norm.prediction == item.answer
        detail = f"{source} extracted {extraction!r}"
        if norm.snapped:
            detail += f", no choice: snapped to the most similar choice (edit distance {norm.distance})"
            method = method if method == "official_empty" else "official_snap"
        return Score("correct" if ok else "incorrect", "official", norm.prediction, method,
                     f"{detail}; {norm.prediction!r} vs gold {item.answer!r}")

    def _score_strict(self, item: EvalItem, response: str) -> Score:
        if item.options:
            parsed = read_choice(response, item.options, rules=self.prose_rules)
            if parsed.value is None:
                return Score("unparsed", "none", None, parsed.method, "names no single choice")
            chosen = item.options[parsed.value]
            ok = chosen == item.answer
            return Score("correct" if ok else "incorrect", "choice_text", chosen, parsed.method,
                         f"chose {parsed.value} = {chosen!r}, gold {item.answer!r}")
        if item.answer_type == "list":
            return self._score_list(item, response)
        if item.answer_type == "text":
            visible = visible_text(response)
            found = extract_answer(visible) if visible is not None else None
            if found is None:
                return Score("unparsed", "none", None, "unclosed_think" if visible is None else "none")
            ok = found.text.strip().lower() == item.answer.strip().lower()
            return Score("correct" if ok else "incorrect", "exact", found.text, found.method)
        parsed = read_number(response, rules=self.prose_rules)
        if parsed.value is None:
            return Score("unparsed", "none", None, parsed.method, "no number found")
        pred = float(parsed.value)
        try:
            gold = float(item.answer)
        except ValueError:
            return Score("error", "none", parsed.value, parsed.method, f"gold {item.answer!r} is not a number")
        if item.answer_type == "integer":
            pred_s, gold_s = str(int(pred)), str(int(gold))
        elif item.precision is not None:
            pred_s, gold_s = f"{round(pred, item.precision):.{item.precision}f}", f"{round(gold, item.precision):.{item.precision}f}"
        else:
            pred_s, gold_s = repr(pred), repr(gold)
        ok = pred_s == gold_s
        return Score("correct" if ok else "incorrect", item.answer_type, pred_s, parsed.method,
                     f"{pred_s} vs gold {gold_s}")

    def _score_list(self, item: EvalItem, response: str) -> Score:
        visible = visible_text(response)
        found = extract_answer(visible) if visible is not None else None
        if found is None:
            return Score("unparsed", "none", None, "unclosed_think" if visible is None else "none")
        pred, gold = numbers_in(found.text), numbers_in(item.answer)
        if not pred:
            return Score("unparsed", "none", None, found.method, "answer has no numbers")
        ok = len(pred) == len(gold) and all(float(a) == float(b) for a, b in zip(pred, gold))
        return Score("correct" if ok else "incorrect", "list", f"[{', '.join(pred)}]", found.method)


BENCHMARK = MathVista()
