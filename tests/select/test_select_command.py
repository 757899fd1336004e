"""``finereason select`` end to end on the real MMFineReason records."""

from __future__ import annotations

import json

import dataclasses
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Sample, stable_id

from fixture_dir import FIXTURE_DIR, read_release_records

#: Domains of the fixture's subsets, from the paper's Table 5.
DOMAINS = {
    "Euclid30K": "Math", "MMR1": "Math", "WeMath2-Standard": "Math", "FineVision-scienceqa": "Science",
    "GameQA-140K": "Puzzle", "FineVision-raven": "Puzzle", "LLaVA-CoT": "General",
}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return read_release_records()


def record_to_sample(r: dict) -> Sample:
    """The release's columns mapped onto a Sample (is_consistent → verdict, the teacher's reply → response)."""
    images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
    return Sample(
        id=stable_id(r["source"], str(r["id"])),
        source=r["source"],
        domain=DOMAINS[r["source"]],
        question=r["question"],
        answer=r["answer"],
        images=images,
        caption=r.get("caption"),
        response=r.get("qwen3vl_235b_thinking_response"),
        verdict="correct" if r["is_consistent"] else "incorrect",
        pass_rate=r["pass_rate"],
    )


@pytest.fixture(scope="module")
def samples(records: list[dict]) -> list[Sample]:
    return [record_to_sample(r) for r in records]


def write_dataset(samples: list[Sample], root: Path, shard_size: int, manifest: dict | None = None) -> Path:
    """Write samples as a finereason dataset folder with ``shard_size`` samples per shard."""
    ds = Dataset(root)
    for i in range(0, max(len(samples), 1), shard_size):
        chunk = samples[i:i + shard_size]
        ds.write_shard(i // shard_size, chunk, [], ShardCounts(i // shard_size, len(chunk), len(chunk), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", manifest or {"stage": "verify", "rejected": {"answer_missing": 3}})
    return root



def run_select(src: Path, out: Path, *args: str, workers: int = 1) -> tuple[set[str], Counter[str], dict]:
    """Run the command; return kept ids, rejection reasons (from rejected/) and the manifest."""
    assert main(["select", str(src), "--out", str(out), "--workers", str(workers), *args]) == 0
    ds = Dataset(out)
    kept = {s.id for s in ds.iter_samples()}
    rej = ds.rejected_table()
    reasons = Counter(rej.column("reject_reason").to_pylist()) if rej is not None else Counter()
    return kept, reasons, ds.manifest()


@pytest.fixture(scope="module")
def src(samples: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(samples, tmp_path_factory.mktemp("select") / "in", shard_size=16)


def _expected(records: list[dict], keep, consistent_only: bool = True) -> int:
    return sum(1 for r in records if keep(r["pass_rate"]) and (r["is_consistent"] or not consistent_only))


@pytest.mark.parametrize(
    "args, keep",
    [
        (["--subset", "hard"], lambda p: p == 0),
        (["--subset", "medium+"], lambda p: p != 1),
        (["--subset", "all"], lambda p: True),
        (["--pass-rate", "0:0.5"], lambda p: p <= 0.5),
        (["--pass-rate", "[0.25,0.75)"], lambda p: 0.25 <= p < 0.75),
        (["--pass-rate", "0", "--pass-rate", "1"], lambda p: p in (0, 1)),
    ],
)
def test_subset_counts_match_the_records(records, src, tmp_path, args, keep) -> None:
    kept, reasons, manifest = run_select(src, tmp_path / "correct", *args)
    assert len(kept) == _expected(records, keep)
    assert manifest["records_in"] == 70 and manifest["records_out"] == len(kept)
    assert reasons["verdict_not_correct"] == sum(1 for r in records if keep(r["pass_rate"]) and not r["is_consistent"])
    assert reasons["pass_rate_out_of_range"] == sum(1 for r in records if not keep(r["pass_rate"]))

    kept_any, _, _ = run_select(src, tmp_path / "any", *args, "--verdict", "any")
    assert len(kept_any) == _expected(records, keep, consistent_only=False)


def test_known_subset_sizes(src, tmp_path) -> None:
    """Pinned from records.jsonl: 15 samples at pass rate 0, 28 below 1, 16 judged inconsistent."""
    assert len(run_select(src, tmp_path / "h", "--subset", "hard", "--verdict", "any")[0]) == 15
    assert len(run_select(src, tmp_path / "m", "--subset", "medium+", "--verdict", "any")[0]) == 28
    assert run_select(src, tmp_path / "a", "--subset", "all")[1] == Counter(verdict_not_correct=16)


def test_unscored_samples_are_rejected_not_easy(samples, tmp_path) -> None:
    unscored = {s.id for s in samples[:12]}
    data = [dataclasses.replace(s, pass_rate=None) if s.id in unscored else s for s in samples]
    src = write_dataset(data, tmp_path / "in", shard_size=20)
    for subset in ("hard", "medium+"):
        kept, reasons, _ = run_select(src, tmp_path / subset, "--subset", subset, "--verdict", "any")
        assert reasons["no_pass_rate"] == 12 and not (kept & unscored)
    kept, reasons, _ = run_select(src, tmp_path / "all", "--subset", "all", "--verdict", "any")
    assert unscored <= kept and "no_pass_rate" not in reasons


def test_quality_flags(samples, tmp_path) -> None:
    flags = {0: ["repetition: a 50-word sequence occurs >= 3 times"], 1: ["think_missing: no <think>…</think> block"],
             2: ["language: 40% of letters are latin"], 3: ["truncated: finish_reason=length"]}
    data = [dataclasses.replace(s, flags=flags.get(i, [])) for i, s in enumerate(samples)]
    src = write_dataset(data, tmp_path / "in", shard_size=70)
    _, reasons, _ = run_select(src, tmp_path / "default", "--verdict", "any")
    assert reasons == Counter({"flagged:repetition": 1, "flagged:think_missing": 1, "flagged:truncated": 1})
    _, reasons, _ = run_select(src, tmp_path / "clean", "--verdict", "any", "--require-clean")
    assert sum(reasons.values()) == 4 and reasons["flagged:language"] == 1
    _, reasons, _ = run_select(src, tmp_path / "none", "--verdict", "any", "--drop-flags", "")
    assert not reasons


def test_rejections_keep_the_whole_sample(src, tmp_path, samples) -> None:
    run_select(src, tmp_path / "out", "--subset", "hard")
    rej = Dataset(tmp_path / "out").rejected_table()
    by_id = {s.id: s for s in samples}
    for row in rej.to_pylist():
        original = by_id[row["id"]]
        assert row["reject_stage"] == "select" and row["reject_detail"]
        assert [im["sha256"] for im in row["images"]] == [im.sha256 for im in original.images]
        assert row["response"] == original.response


def test_no_verdicts_means_no_verdict_filter(samples, tmp_path) -> None:
    src = write_dataset([dataclasses.replace(s, verdict=None) for s in samples], tmp_path / "in", 35)
    kept, reasons, manifest = run_select(src, tmp_path / "out")
    assert len(kept) == 70 and not reasons and manifest["settings"]["require_correct"] is False


def test_mixed_verdicts_reject_unverified(samples, tmp_path) -> None:
    data = [dataclasses.replace(s, verdict=None) if i < 5 else s for i, s in enumerate(samples)]
    _, reasons, _ = run_select(write_dataset(data, tmp_path / "in", 35), tmp_path / "out")
    assert reasons["no_verdict"] == 5


CAP_ARGS = [
    ["--cap-per-source", "4"],
    ["--cap-per-domain", "6"],
    ["--cap-per-source", "5", "--cap-per-domain", "8"],
    ["--balance", "domain"],
    ["--balance", "source", "--limit", "20"],
    ["--limit", "9"],
]


@pytest.mark.parametrize("args", CAP_ARGS)
def test_caps_do_not_depend_on_sharding(samples, tmp_path, args) -> None:
    results = []
    for shard_size, order in [(70, 1), (7, 1), (16, -1)]:  # one shard, ten, and reversed order
        src = write_dataset(samples[::order], tmp_path / f"in{shard_size}", shard_size)
        results.append(run_select(src, tmp_path / f"out{shard_size}", "--seed", "3", *args))
    assert results[0][0] == results[1][0] == results[2][0]
    assert results[0][1] == results[1][1] == results[2][1]


def test_caps_do_not_depend_on_workers(samples, tmp_path) -> None:
    src = write_dataset(samples, tmp_path / "in", 7)
    args = ["--cap-per-source", "5", "--balance", "domain", "--limit", "17"]
    one = run_select(src, tmp_path / "one", *args, workers=1)
    two = run_select(src, tmp_path / "two", *args, workers=2)
    assert one[0] == two[0] and one[1] == two[1] and len(one[0]) == 17


def test_caps_respect_their_bounds_and_record_stats(records, src, tmp_path, samples) -> None:
    kept, reasons, manifest = run_select(src, tmp_path / "out", "--cap-per-source", "4", "--seed", "1")
    by_id = {s.id: s for s in samples}
    per_source = Counter(by_id[i].source for i in kept)
    correct = Counter(r["source"] for r in records if r["is_consistent"])
    assert per_source == Counter({k: min(4, v) for k, v in correct.items()})
    assert reasons["over_cap_source"] == sum(max(0, v - 4) for v in correct.values())
    sel = manifest["selection"]
    assert sel["before"]["source"] == dict(Counter(r["source"] for r in records))
    assert sel["after"]["source"] == dict(per_source)
    assert sum(sel["after"]["domain"].values()) == len(kept) == sel["planned_kept"]


def test_seed_changes_the_choice(src, tmp_path) -> None:
    a = run_select(src, tmp_path / "a", "--cap-per-source", "3", "--seed", "1")[0]
    b = run_select(src, tmp_path / "b", "--cap-per-source", "3", "--seed", "2")[0]
    assert len(a) == len(b) and a != b


def test_balance_with_limit(src, tmp_path, samples) -> None:
    kept, reasons, _ = run_select(src, tmp_path / "out", "--balance", "domain", "--limit", "16")
    domains = Counter({s.id: s for s in samples}[i].domain for i in kept)
    assert domains == Counter({"General": 4, "Math": 4, "Puzzle": 4, "Science": 4})
    assert reasons["over_limit"] == 54 - 16


def test_rerun_resumes_and_other_settings_are_refused(src, tmp_path) -> None:
    out = tmp_path / "out"
    first = run_select(src, out, "--subset", "hard")
    markers = {p.name: p.stat().st_mtime_ns for p in (out / ".done").glob("part-*.json")}
    second = run_select(src, out, "--subset", "hard")
    assert first[0] == second[0]
    assert markers == {p.name: p.stat().st_mtime_ns for p in (out / ".done").glob("part-*.json")}
    assert main(["select", str(src), "--out", str(out), "--subset", "medium+"]) == 2


def test_manifest_keeps_upstream_and_settings(src, tmp_path) -> None:
    _, _, manifest = run_select(src, tmp_path / "out", "--pass-rate", "[0,0.5)", "--seed", "9")
    assert manifest["upstream"]["stage"] == "verify"
    assert manifest["settings"]["pass_rate"] == ["[0,0.5)"] and manifest["settings"]["seed"] == 9
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
    assert pq.ParquetFile(next((tmp_path / "out" / "data").glob("*.parquet"))).schema_arrow.names[0] == "id"


def test_bad_range_is_a_usage_error(src, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["select", str(src), "--out", str(tmp_path / "x"), "--pass-rate", "[0.5,0.2]"])
    assert "bounds must satisfy" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["select", str(src), "--out", str(tmp_path / "x"), "--subset", "hard", "--pass-rate", "0"])


def test_undecided_kept_out_unless_asked_and_counted(samples, tmp_path) -> None:
    """verify's "undecided" (rules could not tell, no judge) is not "correct": the default drops it,
    --verdict correct+undecided keeps it; open-ended "unverifiable" samples are kept (the paper
    trains on them); the manifest counts every verdict before and after."""
    verdicts = ["undecided"] * 4 + ["unverifiable"] * 2
    data = [dataclasses.replace(s, verdict=v) for s, v in zip(samples, verdicts)] + samples[len(verdicts):]
    src = write_dataset(data, tmp_path / "in", 35)
    kept, reasons, manifest = run_select(src, tmp_path / "default")
    assert not {s.id for s in data[:4]} & kept and {s.id for s in data[4:6]} <= kept
    correct = sum(s.verdict == "correct" for s in data)
    assert len(kept) == correct + 2
    counts = manifest["selection"]
    assert counts["before"]["verdict"]["undecided"] == 4 and counts["before"]["verdict"]["unverifiable"] == 2
    assert "undecided" not in counts["after"]["verdict"] and counts["after"]["verdict"]["correct"] == correct
    loose, _, manifest = run_select(src, tmp_path / "loose", "--verdict", "correct+undecided")
    assert {s.id for s in data[:6]} <= loose and manifest["selection"]["after"]["verdict"]["undecided"] == 4
    assert manifest["settings"]["also_keep_verdicts"] == ["unverifiable", "undecided"]
