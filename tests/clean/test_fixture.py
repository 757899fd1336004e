"""The clean stage on 70 real records of the MMFineReason release, built here straight from
records.jsonl (the question before the release's cleaning, the source's original answer, the
image file) so the test does not depend on the ingest reader."""

from __future__ import annotations

from collections import Counter

from fixture_dir import FIXTURE_DIR

from finereason.clean.stage import CleanStage
from finereason.io.images import decode
from finereason.schema import Image, Sample, stable_id


def release_samples(records: list[dict]) -> list[Sample]:
    samples = []
    for r in records:
        images = [Image(bytes=(FIXTURE_DIR / r["image"]).read_bytes(), path=r["image"])] if r.get("image") else []
        question = r.get("ori_question") or r["question"]
        samples.append(Sample(id=stable_id(r["source"], str(r["id"])), source=r["source"], question=question,
                              answer=r["original_answer"], images=images))
    return samples


def test_release_records_all_survive(release_records: list[dict]) -> None:
    samples = release_samples(release_records)
    assert sum(len(s.images) for s in samples) == 60
    counts: Counter[str] = Counter()
    stage = CleanStage()
    result = stage(samples)
    assert [r.reason for r in result.rejected] == []  # nothing real rejected wrongly
    assert len(result.kept) == 70
    by_id = {s.id: s for s in result.kept}
    for before in samples:
        after = by_id[before.id]
        assert len(after.images) == len(before.images)
        for old, new in zip(before.images, after.images, strict=True):
            pil = decode(new.bytes)
            assert pil.mode == "RGB" and (new.width, new.height) == pil.size and new.phash
            # All release images are RGB JPEGs within 2048 px: their bytes are kept exactly.
            assert new.bytes == old.bytes and new.sha256 == old.sha256
            counts[pil.format] += 1
        assert "<image>" not in after.question and after.question
        assert after.answer and after.answer_type
    assert counts == Counter({"JPEG": 60})


def test_release_records_types_and_options(release_records: list[dict]) -> None:
    kept = CleanStage()(release_samples(release_records)).kept
    types = Counter(s.answer_type for s in kept)
    assert types["choice"] == 41  # 10 Raven, 10 ScienceQA, 9 GameQA, 3 LLaVA-CoT, 3 Euclid30K, 6 WeMath2
    with_options = [s for s in kept if s.options]
    assert len(with_options) == 30  # all of those but Raven's (drawn in the image) and one Euclid30K
    assert all(s.answer_type == "choice" for s in with_options)
    wemath = next(s for s in kept if s.meta_get("original_answer") == "944")
    assert wemath.answer == "C" and wemath.options[2] == "944"
