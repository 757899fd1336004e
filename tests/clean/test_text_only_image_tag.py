"""Issue 16: text-only release records carry a leading ``<image>`` tag. ``clean`` removes it, says so
in ``meta.clean_edits`` and keeps the sample, so every training export keeps it too (without clean,
the trl export rejects those 10 records as ``image_tag_mismatch``)."""

from __future__ import annotations

from fixture_dir import FIXTURE_DIR

from finereason.cli import main
from finereason.io.store import Dataset


def test_text_only_records_lose_the_tag_in_clean_and_survive_export(tmp_path) -> None:
    raw, clean = tmp_path / "raw", tmp_path / "clean"
    assert main(["ingest", str(FIXTURE_DIR), "--format", "auto", "--workers", "1", "--out", str(raw)]) == 0
    tagged = [s.id for s in Dataset(raw).iter_samples() if not s.images and "<image>" in s.question]
    assert len(tagged) == 10
    assert main(["clean", str(raw), "--workers", "1", "--out", str(clean)]) == 0
    by_id = {s.id: s for s in Dataset(clean).iter_samples()}
    for sample_id in tagged:
        sample = by_id[sample_id]
        assert "<image>" not in sample.question and "question:image_tag" in sample.meta["clean_edits"]
        assert "<image>" in sample.meta["original_question"]
    assert main(["export", str(clean), "--format", "trl", "--out", str(tmp_path / "trl")]) == 0
    assert Dataset(tmp_path / "trl").manifest()["rejected"] == {}
    assert main(["export", str(raw), "--format", "trl", "--out", str(tmp_path / "trl-raw")]) == 0
    assert Dataset(tmp_path / "trl-raw").manifest()["rejected"] == {"image_tag_mismatch": 10}
