"""Any finereason dataset folder as a benchmark: multiple choice when a sample has options, else free-form.

This is how a held-out split of our own data, a ``synth`` set with exact answers, or any source
that ``finereason ingest`` can read becomes an evaluation set. Category is the sample's
``domain`` (else its ``source``), subcategory its ``source``. Scoring is the verification
cascade (exact → choice letter/option text → numeric → math-verify), the same one that grades
distilled data, so an eval number and a pass rate mean the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from finereason.clean.options import options_in
from finereason.evaluate.benchmarks.base import Benchmark, Score, failed_item
from finereason.evaluate.items import BenchmarkError, EvalItem, ImageRef, ItemError, option_letters
from finereason.evaluate.parsing import parse_choice, visible_text
from finereason.io.store import Dataset, DatasetError
from finereason.verify.extract import extract_answer

#: Our answer types (clean.answers.answer_type) → the verifier's.
_VERIFY_TYPES = {"choice": "choice", "text": "text", "yes_no": "text"}


class Canonical(Benchmark):
    name = "canonical"
    title = "finereason dataset"
    formats = "a finereason dataset folder (data/part-*.parquet)"
    id_fields = ("id",)
    macro_over = "category"

    def load(self, path: Path) -> list[EvalItem]:
        try:
            samples = list(Dataset(path).iter_samples())
        except DatasetError as err:
            raise BenchmarkError(str(err)) from err
        items = []
        for s in samples:
            category, sub = s.domain or s.source or "all", s.source or ""
            try:
                if not (s.answer or "").strip():
                    raise ItemError(f"item {s.id}: no reference answer")
                options = dict(zip(option_letters(len(s.options)), s.options)) if s.options else {}
                inline = options_in(s.question) if not options else {}
                items.append(
                    EvalItem(
                        id=s.id,
                        question=s.question,
                        answer=s.answer,
                        options=options or inline,
                        images=[ImageRef(f"image_{i + 1}", data=im.bytes, source=str(path)) for i, im in enumerate(s.images)],
                        category=category,
                        subcategory=sub,
                        question_type="multiple-choice" if (options or inline) else "open",
                        answer_type=s.answer_type or "",
                        meta={"options_in_question": bool(inline)},
                    )
                )
            except ItemError as err:
                items.append(failed_item(s.id, f"{path}: {err}", category=category, subcategory=sub))
        return items

    def score(self, item: EvalItem, response: str) -> Score:
        return self.score_many([item], [response])[0]

    def score_many(self, items: Sequence[EvalItem], responses: Sequence[str]) -> list[Score]:
        from finereason.verify import VerifyItem, verify_many  # its worker pool starts only if needed

        out: list[Score | None] = [None] * len(items)
        todo: list[tuple[int, VerifyItem, str]] = []
        for i, (item, response) in enumerate(zip(items, responses, strict=True)):
            if item.options:
                parsed = parse_choice(response, item.options)
                pred, method = parsed.value, parsed.method
            else:
                visible = visible_text(response)
                found = extract_answer(visible) if visible is not None else None
                pred = found.text if found is not None else None
                method = found.method if found is not None else ("unclosed_think" if visible is None else "none")
            if pred is None:
                out[i] = Score("unparsed", "none", None, method, "no answer found in the response")
                continue
            answer_type = "choice" if item.options else _VERIFY_TYPES.get(item.answer_type)
            todo.append((i, VerifyItem(pred, str(item.answer), item.options, answer_type, item.question), method))
        verdicts = verify_many([t[1] for t in todo]) if todo else []
        for (i, request, method), verdict in zip(todo, verdicts, strict=True):
            if verdict.verdict == "undecided":  # benchmark scores have no abstention: not shown correct
                out[i] = Score("incorrect", verdict.verdict_by, request.pred, method, f"undecided: {verdict.detail}")
                continue
            out[i] = Score(verdict.verdict, verdict.verdict_by, request.pred, method, verdict.detail)
        return [s for s in out if s is not None]


BENCHMARK = Canonical()
