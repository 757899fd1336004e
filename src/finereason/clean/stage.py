"""The ``clean`` stage: rule-based cleaning of question, options, answer and images, per sample.

A sample leaves with a reason rather than half-cleaned: no question (``missing_question``), no
usable answer (``missing_answer``, ``answer_unextracted``; an open-ended sample, ``answer_type``
``open`` with no answer, is kept as it is), or any one of its images unusable
(the codec's reason: ``image_undecodable``, ``image_truncated``, ``image_empty``,
``image_zero_size``, ``image_too_large``, or ``image_extreme_aspect``). Dropping only the bad
image of a multi-image sample would leave a question about a picture that is not there, so the
whole sample goes to ``rejected/``, unmodified, with the image's position in the detail.

What changed on a kept sample is recorded on it: ``meta["original_question"]`` and
``meta["original_answer"]`` hold the text before cleaning (unless an earlier stage already
stored it), ``meta["clean_edits"]`` lists the rules that fired; the counts go to the manifest.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from finereason.clean.answers import AnswerError, StandardAnswer, standardize_answer
from finereason.clean.images import clean_image
from finereason.clean.options import parse_options
from finereason.clean.text import clean_question
from finereason.io.images import MAX_DECODE_PIXELS, ImageDecodeError
from finereason.io.readers.fields import OPEN_ANSWER
from finereason.pipeline.stage import StageResult
from finereason.schema import Image, Rejection, Sample


@dataclass(frozen=True)
class CleanStage:
    """Picklable rule-based cleaner; every field is a setting recorded in the manifest."""

    max_side: int = 2048
    max_aspect: float = 200.0
    max_pixels: int = MAX_DECODE_PIXELS
    #: Longest question, option or answer kept, in characters. The longest question of the
    #: MMFineReason sample is 2,323 characters; 100,000 leaves 40x room and bounds the cost of
    #: every later step (text rules, MinHash, prompts) per record.
    max_text_chars: int = 100_000

    name: ClassVar[str] = "clean"
    version: ClassVar[str] = "1"

    def settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __call__(self, batch: list[Sample]) -> StageResult:
        kept: list[Sample] = []
        rejected: list[Rejection] = []
        counts: Counter[str] = Counter()
        for sample in batch:
            out = self.clean_sample(sample, counts)
            if isinstance(out, Rejection):
                rejected.append(out)
            else:
                kept.append(out)
        return StageResult(kept, rejected, stats=dict(counts))

    def _too_long(self, sample: Sample) -> str:
        """Which text is over ``max_text_chars`` ('' if none), checked before any costly step."""
        texts = [("question", sample.question or ""), ("answer", sample.answer or "")]
        texts += [(f"option {i + 1}", o or "") for i, o in enumerate(sample.options)]
        for name, text in texts:
            if len(text) > self.max_text_chars:
                return f"{name}: {len(text)} characters, over --max-text-chars {self.max_text_chars}"
        return ""

    def clean_sample(self, sample: Sample, counts: Counter[str]) -> Sample | Rejection:
        """Clean one sample, or say why it cannot be kept; ``counts`` collects what happened."""
        too_long = self._too_long(sample)
        if too_long:
            return Rejection(self.name, "text_too_long", too_long, sample)
        question = clean_question(sample.question)
        if not question.text:
            return Rejection(self.name, "missing_question", "question empty after cleaning", sample)
        options = list(sample.options)
        if not options:
            parsed = parse_options(question.text)
            if parsed:
                options = parsed.texts
                counts["options_parsed"] += 1
        answer: StandardAnswer | None = None
        if sample.answer is None and sample.answer_type == OPEN_ANSWER:
            counts["open_ended"] += 1  # no ground truth to standardise: kept as ingest kept it
        else:
            try:
                answer = standardize_answer(sample.answer, options)
            except AnswerError as e:
                return Rejection(self.name, e.reason, e.detail, sample)

        images: list[Image] = []
        image_edits: set[str] = set()
        for i, image in enumerate(sample.images):
            try:
                cleaned, edits = clean_image(
                    image, max_side=self.max_side, max_aspect=self.max_aspect, max_pixels=self.max_pixels
                )
            except ImageDecodeError as e:
                detail = f"image {i + 1} of {len(sample.images)}: {e.detail or e.reason}"
                return Rejection(self.name, e.reason, detail, sample)
            images.append(cleaned)
            image_edits.update(edits)
            counts["images"] += 1
            counts.update(f"images_{edit}" for edit in edits)

        out = dataclasses.replace(
            sample,
            question=question.text,
            options=options,
            answer=answer.text if answer else None,
            images=images,
            meta=dict(sample.meta),
            flags=list(sample.flags),
        )
        # A type a source set (synthetic problems know theirs) stands unless the answer changed.
        if answer and (answer.text != sample.answer or not sample.answer_type):
            out.answer_type = answer.answer_type
        if question.text != sample.question:
            counts["questions_changed"] += 1
            counts.update(f"question_{edit}" for edit in question.edits)
            if "original_question" not in out.meta:
                out.meta_set("original_question", sample.question)
        if answer and answer.text != sample.answer:
            counts["answers_changed"] += 1
            counts[f"answer_from_{answer.how}"] += 1
            if "original_answer" not in out.meta:
                out.meta_set("original_answer", sample.answer)
        edits = [f"question:{e}" for e in question.edits] + [f"image:{e}" for e in sorted(image_edits)]
        if answer and answer.text != sample.answer:
            edits.append(f"answer:{answer.how}")
        if edits:
            out.meta_set("clean_edits", edits)
        return out

