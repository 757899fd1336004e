"""The acceptance corpus of issue 17: every kind of bad record, each line followed by a good one,
plus bad files beside good ones in one folder. ``ingest`` and then ``clean`` each run once, exit 0,
keep every good record and reject every bad one with its reason; nothing stops the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ingest_helpers import png

from finereason.cli import main
from finereason.io.store import Dataset

#: Kinds a record can be bad in for ingest: (name, expected reason, the line's bytes). ``{root}``
#: in a line is the dataset folder, ``{outside}`` a folder beside it.
INGEST_BAD: list[tuple[str, str, str]] = [
    ("nested 100,000 deep", "bad_json", '{"question": "q", "answer": "a", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ("nested 65 deep", "bad_json", '{"question": "q", "answer": "a", "x": ' + "[" * 65 + "]" * 65 + "}"),
    ("5,000-digit integer", "bad_json", '{"question": "q", "answer": "a", "n": ' + "7" * 5000 + "}"),
    ("lone surrogate in question", "bad_encoding", '{"question": "bad \\ud800 text", "answer": "a"}'),
    ("lone surrogate in answer", "bad_encoding", '{"question": "q", "answer": "\\udfff"}'),
    ("lone surrogate in meta", "bad_encoding", '{"question": "q", "answer": "a", "meta": {"note": "x\\ud83d"}}'),
    ("lone surrogate in a key", "bad_encoding", '{"question": "q", "answer": "a", "k\\ud800": 1}'),
    ("symlink loop", "image_unreadable", '{"question": "q", "answer": "a", "image": "images/loop.png"}'),
    ("file:// missing", "image_missing", '{"question": "q", "answer": "a", "image": "file://{root}/images/nope.png"}'),
    ("file:// outside", "path_outside_dataset",
     '{"question": "q", "answer": "a", "image": "file://{outside}/secret.png"}'),
    ("file:// other host", "image_unsupported_scheme",
     '{"question": "q", "answer": "a", "image": "file://fileserver/images/good.png"}'),
    ("unknown scheme", "image_unsupported_scheme", '{"question": "q", "answer": "a", "image": "gopher://h/x.png"}'),
    ("remote URL", "image_remote", '{"question": "q", "answer": "a", "image": "https://example.com/a.png"}'),
    ("path outside", "path_outside_dataset", '{"question": "q", "answer": "a", "image": "../outside/secret.png"}'),
    ("missing image", "image_missing", '{"question": "q", "answer": "a", "image": "images/nope.png"}'),
    ("corrupt image", "image_undecodable", '{"question": "q", "answer": "a", "image": "images/corrupt.png"}'),
    ("empty image", "image_empty", '{"question": "q", "answer": "a", "image": "images/empty.png"}'),
    ("NUL in path", "bad_field", '{"question": "q", "answer": "a", "image": "images/a\\u0000.png"}'),
    ("not UTF-8", "bad_encoding", '{"question": "caf\xe9", "answer": "a"}'),
    ("cut off", "bad_json", '{"question": "cut off", "answer": '),
    ("not an object", "bad_json", "[1, 2, 3]"),
    ("no question", "missing_question", '{"answer": "a"}'),
    ("no answer", "missing_answer", '{"question": "q"}'),
    ("wrong type", "bad_field", '{"question": ["a", "list"], "answer": "a"}'),
    ("infinite pass rate", "bad_field", '{"question": "q", "answer": "a", "pass_rate": Infinity}'),
]

#: Records ingest keeps and clean must reject: (name, expected reason, the record).
CLEAN_BAD: list[tuple[str, str, dict]] = [
    ("question over --max-text-chars", "text_too_long", {"question": "Why? " * 40_000, "answer": "a"}),
    ("answer over --max-text-chars", "text_too_long", {"question": "Long answer?", "answer": "7" * 100_001}),
    ("only an image tag", "missing_question", {"question": "<image>", "answer": "a"}),
]


def good(i: int, **extra: str) -> dict:
    return {"question": f"Good question {i}: what is {i} + 1?", "answer": str(i + 1), **extra}


@pytest.fixture
def corpus(tmp_path: Path) -> dict:
    root = tmp_path / "ds"
    outside = tmp_path / "outside"
    (root / "images").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.png").write_bytes(png((1, 2, 3)))
    (root / "images" / "good.png").write_bytes(png())
    (root / "images" / "corrupt.png").write_bytes(b"not an image" * 20)
    (root / "images" / "empty.png").write_bytes(b"")
    (root / "images" / "loop.png").symlink_to("loop.png")

    lines: list[bytes] = []
    expect_ingest: dict[int, str] = {}  # line number -> reason
    good_questions: list[str] = []
    for i, (_, reason, text) in enumerate(INGEST_BAD):
        lines.append(text.replace("{root}", str(root)).replace("{outside}", str(outside)).encode("latin-1"))
        expect_ingest[len(lines)] = reason
        # Good neighbours vary: plain, a relative image, a file:// image inside the dataset.
        image = ["images/good.png", f"file://{root}/images/good.png", None][i % 3]
        rec = good(i, **({"image": image} if image else {}))
        lines.append(json.dumps(rec).encode())
        good_questions.append(rec["question"])
    # Leading indentation of 40,000 spaces: a good record (and, since issue 17, a cheap one).
    spaced = {"question": "Which line?\n" + " " * 40_000 + "This one.", "answer": "b"}
    lines.append(json.dumps(spaced).encode())
    clean_expect: dict[str, str] = {}
    for j, (_, reason, rec) in enumerate(CLEAN_BAD):
        lines.append(json.dumps(rec).encode())
        clean_expect[rec["question"]] = reason
        neighbour = good(1000 + j)
        lines.append(json.dumps(neighbour).encode())
        good_questions.append(neighbour["question"])
    (root / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    # A damaged Parquet file beside the JSON Lines: rejected as a file, the rest is read.
    (root / "b.parquet").write_bytes(b"PAR1" + b"\0garbage" * 100)
    # A file whose first 51 lines are broken: still read line by line.
    broken = [b'{"question": "broken ' + str(k).encode() + b'"' for k in range(51)]
    tail = [good(2000 + k) for k in range(3)]
    (root / "c.jsonl").write_bytes(b"\n".join(broken + [json.dumps(r).encode() for r in tail]) + b"\n")
    good_questions += [r["question"] for r in tail]
    # A file name that is not UTF-8 (Python holds its bytes as lone surrogates): stored escaped.
    odd = good(3000)
    (root / os.fsdecode(b"d\xff.jsonl")).write_bytes(b"{oops\n" + json.dumps(odd).encode() + b"\n")
    good_questions.append(odd["question"])
    return {"root": root, "expect_ingest": expect_ingest, "good": good_questions, "spaced": spaced["question"],
            "clean_expect": clean_expect, "broken": len(broken)}


def test_ingest_then_clean_keep_every_good_record_and_reject_every_bad_one(corpus, tmp_path: Path, capsys):
    root = corpus["root"]
    raw, cleaned = tmp_path / "raw", tmp_path / "clean"
    assert main(["ingest", str(root), "--out", str(raw), "--workers", "2", "--shard-size", "7"]) == 0
    capsys.readouterr()
    ds = Dataset(raw)
    rejected = ds.rejected_table().to_pylist()
    by_ref = {r["reject_ref"]: r["reject_reason"] for r in rejected}
    a = root / "a.jsonl"
    assert {ref: why for ref, why in by_ref.items() if ref.startswith(f"{a}:")} == {
        f"{a}:{n}": reason for n, reason in corpus["expect_ingest"].items()}
    c_reasons = [why for ref, why in by_ref.items() if ref.startswith(f"{root / 'c.jsonl'}:")]
    assert c_reasons == ["bad_json"] * corpus["broken"]
    assert by_ref[str(root / "b.parquet")] == "bad_file"
    assert by_ref[f"{root}/d\\xff.jsonl:1"] == "bad_json"
    manifest = ds.manifest()
    assert [f["path"] for f in manifest["rejected_files"]] == [str(root / "b.parquet")]
    assert "unreadable Parquet" in manifest["rejected_files"][0]["reason"]
    kept = {s.question for s in ds.iter_samples()}
    assert set(corpus["good"]) <= kept
    assert corpus["spaced"] in kept and set(corpus["clean_expect"]) <= kept
    assert len(kept) == len(corpus["good"]) + 1 + len(corpus["clean_expect"])
    assert manifest["records_out"] == len(kept) and manifest["records_in"] == len(kept) + len(rejected)
    with_file_uri = [s for s in ds.iter_samples() if s.images and s.images[0].path.startswith("file://")]
    assert with_file_uri and all(s.images[0].width > 0 for s in with_file_uri)

    assert main(["clean", str(raw), "--out", str(cleaned), "--workers", "2"]) == 0
    out = Dataset(cleaned)
    reasons = {r["question"]: r["reject_reason"] for r in out.rejected_table().to_pylist()}
    assert reasons == corpus["clean_expect"]
    kept_clean = [s.question for s in out.iter_samples()]
    assert len(kept_clean) == len(corpus["good"]) + 1
    assert "Which line?\n" + " " * 40_000 + "This one." in kept_clean  # leading indentation is kept


def test_strict_stops_at_the_first_bad_file(corpus, tmp_path: Path, capsys):
    assert main(["ingest", str(corpus["root"]), "--strict", "--out", str(tmp_path / "raw")]) == 2
    assert "b.parquet: unreadable Parquet file" in capsys.readouterr().err


def test_a_stage_refuses_an_unfinished_input(corpus, tmp_path: Path, capsys):
    raw = tmp_path / "raw"
    assert main(["ingest", str(corpus["root"]), "--out", str(raw), "--workers", "1", "--shard-size", "7"]) == 0
    (raw / "manifest.json").unlink()  # as after a crash: shards and markers, no manifest
    assert main(["clean", str(raw), "--out", str(tmp_path / "clean")]) == 2
    err = capsys.readouterr().err
    assert "unfinished dataset" in err and "rerun `finereason ingest`" in err
    assert not (tmp_path / "clean").exists()
