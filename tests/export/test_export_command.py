"""``finereason export`` end to end on the real MMFineReason records, checked against each trainer's rules.

The 70 records of the shared fixture become Samples as in tests/select (is_consistent → verdict,
the teacher's reply → response). The mapping is repeated there and here on purpose: a shared
``conftest.py`` in these folders would shadow the ``conftest`` other test folders import from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from trainer_rules import validate_llamafactory, validate_swift

from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset, ShardCounts, atomic_write_json
from finereason.schema import Image, Sample, stable_id

from fixture_dir import FIXTURE_DIR, read_release_records
DOMAINS = {
    "Euclid30K": "Math", "MMR1": "Math", "WeMath2-Standard": "Math", "FineVision-scienceqa": "Science",
    "GameQA-140K": "Puzzle", "FineVision-raven": "Puzzle", "LLaVA-CoT": "General",
}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return read_release_records()


@pytest.fixture(scope="module")
def samples(records: list[dict]) -> list[Sample]:
    """is_consistent → verdict, the teacher's reply → response, the image file → an Image."""
    out = []
    for r in records:
        images = [make_image((FIXTURE_DIR / r["image"]).read_bytes(), r["image"])] if r.get("image") else []
        out.append(Sample(
            id=stable_id(r["source"], str(r["id"])), source=r["source"], domain=DOMAINS[r["source"]],
            question=r["question"], answer=r["answer"], images=images, caption=r.get("caption"),
            response=r.get("qwen3vl_235b_thinking_response"),
            verdict="correct" if r["is_consistent"] else "incorrect", pass_rate=r["pass_rate"],
        ))
    return out


def write_dataset(samples: list[Sample], root: Path, shard_size: int, manifest: dict | None = None) -> Path:
    ds = Dataset(root)
    for i in range(0, max(len(samples), 1), shard_size):
        chunk = samples[i:i + shard_size]
        ds.write_shard(i // shard_size, chunk, [], ShardCounts(i // shard_size, len(chunk), len(chunk), {}, 0.0, {}))
    atomic_write_json(root / "manifest.json", manifest or {
        "stage": "select", "rejected": {"verdict_not_correct": 16},
        "upstream": {"stage": "verify", "rejected": {"answer_missing": 3}},
    })
    return root


@pytest.fixture(scope="module")
def datasets():
    """HF ``datasets`` (the train extra): only the tests that load exports with it need it."""
    return pytest.importorskip("datasets")


def export(src: Path, out: Path, fmt: str, *args: str) -> dict:
    assert main(["export", str(src), "--format", fmt, "--out", str(out), "--workers", "1", *args]) == 0
    return json.loads((out / "manifest.json").read_text())


def rejected_reasons(out: Path) -> Counter[str]:
    table = Dataset(out / ".finereason").rejected_table()
    return Counter(table.column("reject_reason").to_pylist()) if table is not None else Counter()


@pytest.fixture(scope="module")
def src(samples: list[Sample], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(samples, tmp_path_factory.mktemp("export") / "selected", shard_size=16)


@pytest.fixture(scope="module")
def exports(src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One export per format of the real dataset (each is slow enough to share)."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for fmt, args in [("llamafactory", []), ("swift", []), ("trl", []), ("hf", []),
                      ("llamafactory-embed", ["--images", "embed"])]:
        out[fmt] = root / fmt
        export(src, out[fmt], fmt.split("-")[0], *args)
    return out


def with_image(records: list[dict]) -> int:
    return sum(1 for r in records if r.get("image"))


def test_llamafactory_follows_its_rules(exports, records, samples) -> None:
    out = exports["llamafactory"]
    assert validate_llamafactory(out, "llamafactory") == with_image(records) == 60
    manifest = json.loads((out / "manifest.json").read_text())
    # the 10 records whose image the release dropped still say <image>: refused, not a crash in training
    assert manifest["rejected"] == {"image_tag_mismatch": 10} == dict(rejected_reasons(out))
    assert manifest["records_in"] == 70 and manifest["records_out"] == 60
    unique = {hashlib.sha256(im.bytes).hexdigest() for s in samples for im in s.images}
    assert manifest["image_files"] == len(unique) == len(list((out / "images").glob("*/*")))
    row = json.loads((out / "data" / "train-00000.jsonl").read_text().splitlines()[0])
    assert row["images"][0].startswith("images/") and row["messages"][1]["content"].startswith("<think>")
    assert "</think>" in row["messages"][1]["content"]


def test_llamafactory_folder_loads_with_datasets(datasets, exports) -> None:
    """LLaMA-Factory hands the data folder's files to ``datasets.load_dataset("json", …)``."""
    files = sorted(str(p) for p in (exports["llamafactory"] / "data").iterdir())
    ds = datasets.load_dataset("json", data_files=files, split="train")
    assert len(ds) == 60 and set(ds.column_names) == {"messages", "images"}


def test_llamafactory_embedded_images(datasets, exports) -> None:
    out = exports["llamafactory-embed"]
    assert validate_llamafactory(out, "llamafactory-embed") == 60
    assert not (out / "images").exists()
    ds = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert ds[0]["images"][0].size[0] > 0  # decoded to PIL through the HF feature metadata


def test_swift_follows_its_rules(exports, tmp_path) -> None:
    out = exports["swift"]
    files = sorted((out / "data").glob("train-*.jsonl"))
    assert validate_swift(files, cwd=tmp_path) == 60  # absolute paths: any working directory
    row = json.loads(files[0].read_text().splitlines()[0])
    assert Path(row["images"][0]).is_absolute()
    assert not (out / "dataset_info.json").exists()


def test_swift_relative_paths(src, tmp_path) -> None:
    out = tmp_path / "swift"
    export(src, out, "swift", "--image-paths", "relative")
    assert validate_swift(sorted((out / "data").glob("*.jsonl")), cwd=out) == 60


def test_trl_loads_as_a_datasets_dataset(datasets, exports) -> None:
    files = str(exports["trl"] / "data" / "train-*.parquet")
    ds = datasets.load_dataset("parquet", data_files=files, split="train")
    assert len(ds) == 60 and ds.column_names == ["messages", "images"]
    images = ds.features["images"]
    assert isinstance(images, datasets.List) and isinstance(images.feature, datasets.Image)
    for row in ds.select(range(5)):
        user, assistant = row["messages"]
        assert [p["type"] for p in user["content"]].count("image") == len(row["images"]) == 1
        assert row["images"][0].mode in ("RGB", "L", "RGBA", "P")
        assert assistant["role"] == "assistant" and assistant["content"][0]["text"].startswith("<think>")
    same = datasets.Dataset.from_parquet(sorted(str(p) for p in (exports["trl"] / "data").glob("*.parquet")))
    assert len(same) == 60
    assert len(datasets.load_dataset(str(exports["trl"]), split="train")) == 60  # through the card's configs


def test_trl_rows_go_through_a_vlm_processor(datasets, exports, tmp_path_factory) -> None:
    pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from finereason.testing.tinyvlm import build_tiny_vlm

    model_dir = build_tiny_vlm("idefics3", tmp_path_factory.mktemp("tiny") / "idefics3")
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    ds = datasets.load_dataset("parquet", data_files=str(exports["trl"] / "data" / "*.parquet"), split="train")
    for row in ds.select(range(3)):
        text = processor.apply_chat_template(row["messages"], tokenize=False)
        assert text.count("<image>") == len(row["images"])
        enc = processor(text=[text], images=[row["images"]], return_tensors="pt")
        assert int((enc["input_ids"] == image_id).sum()) == processor.image_seq_len * len(row["images"])
        assert enc["pixel_values"].shape[1] == len(row["images"])
        # the prompt through the model: image features and image tokens must agree, or it raises
        prompt = processor.apply_chat_template(row["messages"][:-1], add_generation_prompt=True, tokenize=False)
        enc = processor(text=[prompt], images=[row["images"]], return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits
        assert logits.shape[:2] == enc["input_ids"].shape


def test_hf_parquet_keeps_the_canonical_fields(datasets, exports, samples) -> None:
    ds = datasets.load_dataset("parquet", data_files=str(exports["hf"] / "data" / "*.parquet"), split="train")
    by_id = {s.id: s for s in samples}
    assert len(ds) == 70  # the canonical data is not checked for tags: no image_tag_mismatch here
    for row in ds.select(range(0, 70, 7)):
        s = by_id[row["id"]]
        assert (row["question"], row["answer"], row["response"], row["pass_rate"], row["verdict"]) == (
            s.question, s.answer, s.response, s.pass_rate, s.verdict)
        assert [im.size for im in row["images"]] == [(im.width, im.height) for im in s.images]
    assert pq.ParquetFile(next((exports["hf"] / "data").glob("*.parquet"))).schema_arrow.metadata[b"huggingface"]


def test_every_problem_is_a_rejection_with_its_reason(samples, tmp_path) -> None:
    base = [s for s in samples if s.images][:6]
    shared = base[0].images[0]
    variants = [
        dataclasses.replace(base[0], id="no-response", response=None),
        dataclasses.replace(base[1], id="reply-tag", response=base[1].response + " <image>"),
        dataclasses.replace(base[2], id="two-images", question="<image> vs <image>?",
                            images=[shared, base[2].images[0]]),
        dataclasses.replace(base[3], id="untagged", question="What is it?", images=[shared, shared]),
        dataclasses.replace(base[4], id="options", options=["yes", "no"]),
        dataclasses.replace(base[5], id="broken", images=[Image(b"not an image")]),
    ]
    src = write_dataset(variants, tmp_path / "in", 3)
    out = tmp_path / "lf"
    manifest = export(src, out, "llamafactory", "--max-images", "2", "--system", "Reason, then answer.")
    assert dict(rejected_reasons(out)) == {"no_response": 1, "placeholder_in_text": 1, "image_undecodable": 1}
    assert manifest["records_out"] == 3 and validate_llamafactory(out, "lf") == 3
    rows = {json.loads(line)["messages"][1]["content"]: json.loads(line)
            for f in sorted((out / "data").iterdir()) for line in f.read_text().splitlines()}
    untagged = rows["<image><image>What is it?"]
    assert untagged["images"][0] == untagged["images"][1]  # one file for the shared image
    assert any(k.endswith("Options:\nA. yes\nB. no") for k in rows)
    assert all(r["messages"][0] == {"role": "system", "content": "Reason, then answer."} for r in rows.values())
    assert main(["export", str(src), "--format", "trl", "--out", str(tmp_path / "t"), "--workers", "1",
                 "--max-images", "1"]) == 0
    assert rejected_reasons(tmp_path / "t")["too_many_images"] == 2


def test_card_describes_the_export(exports, records) -> None:
    card = (exports["llamafactory"] / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "path: data/train-*.jsonl" in card
    assert "60 samples exported as **llamafactory** in 5 file(s)" in card
    assert "dataset: llamafactory" in card
    for source, n in Counter(r["source"] for r in records if r.get("image")).items():
        assert f"| {source} | {n} |" in card
    hard = sum(1 for r in records if r.get("image") and r["pass_rate"] == 0)
    assert f"| 0 | {hard} |" in card  # the pass-rate table
    assert "| export | image_tag_mismatch | 10 |" in card
    assert "| select | verdict_not_correct | 16 |" in card and "| verify | answer_missing | 3 |" in card
    assert "## Reasoning length" in card and "| 60 |" in card


def test_rerun_resumes_and_unrelated_folders_are_refused(src, tmp_path) -> None:
    out = tmp_path / "lf"
    export(src, out, "llamafactory")
    stamps = {p: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    export(src, out, "llamafactory")
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "data").iterdir()}
    assert main(["export", str(src), "--format", "llamafactory", "--out", str(out), "--system", "x"]) == 2
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["export", str(src), "--format", "trl", "--out", str(tmp_path / "other")]) == 2
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_option_errors(src, tmp_path) -> None:
    assert main(["export", str(src), "--format", "trl", "--images", "files", "--out", str(tmp_path / "a")]) == 2
    assert main(["export", str(src), "--format", "swift", "--images", "embed", "--out", str(tmp_path / "b")]) == 2
    assert main(["export", str(src), "--format", "trl", "--system", "<image>", "--out", str(tmp_path / "c")]) == 2


def test_nothing_exported_is_an_error(samples, tmp_path) -> None:
    src = write_dataset([dataclasses.replace(s, response=None) for s in samples[:4]], tmp_path / "in", 4)
    assert main(["export", str(src), "--format", "trl", "--out", str(tmp_path / "o"), "--workers", "1"]) == 1
    assert rejected_reasons(tmp_path / "o") == Counter(no_response=4)
