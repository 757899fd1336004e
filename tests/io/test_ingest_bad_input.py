"""A generated corpus of every kind of bad input: each becomes one rejection with its reason and
``file:line``, the good records around them are all kept, and exotic-but-valid images pass."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from ingest_helpers import encode, png
from PIL import Image as PILImage


def _bomb() -> bytes:
    """A PNG whose header claims 100000 x 100000 pixels: refused before any pixel is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _images(folder: Path) -> dict[str, bytes]:
    good = png()
    files = {
        "good.png": good,
        "corrupt.png": b"this is not an image at all" * 10,
        "truncated.png": good[: len(good) // 2],
        "empty.png": b"",
        "bomb.png": _bomb(),
        "cmyk.jpg": encode(PILImage.new("CMYK", (40, 30), (0, 120, 200, 10)), "JPEG"),
        "palette.png": encode(PILImage.new("RGB", (40, 30), (10, 200, 90)).convert("P")),
        "gray16.png": encode(PILImage.new("I;16", (40, 30), 40000)),
        "la.png": encode(PILImage.new("LA", (40, 30), (90, 128))),
    }
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, list[tuple[str | None, bytes]], dict[str, bytes]]:
    """``(jsonl path, [(expected reason or None for kept, line bytes)], image files)``."""
    ds = tmp_path / "ds"
    files = _images(ds / "images")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png((1, 2, 3)))  # a valid image: if read, it would pass
    (ds / "images" / "link_out.png").symlink_to(outside / "secret.png")
    (ds / "images" / "link_in.png").symlink_to(ds / "images" / "good.png")
    b64 = base64.b64encode(png((9, 9, 200))).decode()

    def rec(**kw) -> bytes:
        base = {"question": "What is shown?", "answer": "A"}
        base.update(kw)
        return (json.dumps({k: v for k, v in base.items() if v is not ...}) + "\n").encode()

    lines: list[tuple[str | None, bytes]] = [
        (None, rec(image="images/good.png")),
        (None, rec(question="Text only, no image key")),
        (None, rec(image=None, question="Text only, image null")),
        (None, rec(image="images/link_in.png", question="symlink inside the dataset")),
        (None, rec(image="images/cmyk.jpg")),
        (None, rec(image="images/palette.png")),
        (None, rec(image="images/gray16.png")),
        (None, rec(image="images/la.png")),
        (None, rec(image=f"data:image/png;base64,{b64}", question="inline base64")),
        ("image_undecodable", rec(image="images/corrupt.png")),
        ("image_truncated", rec(image="images/truncated.png")),
        ("image_empty", rec(image="images/empty.png")),
        ("image_too_large", rec(image="images/bomb.png")),
        ("image_missing", rec(image="images/nope.png")),
        ("path_outside_dataset", rec(image="../outside/secret.png")),
        ("path_outside_dataset", rec(image=str(outside / "secret.png"))),
        ("path_outside_dataset", rec(image="images/link_out.png")),
        ("image_undecodable", rec(image="data:image/png;base64,@@not base64@@")),
        ("image_remote", rec(image="https://example.com/a.png")),
        ("missing_question", rec(question=...)),
        ("missing_question", rec(question="   ")),
        ("missing_answer", rec(answer=...)),
        ("bad_field", rec(question=["a", "list"])),
        ("bad_field", rec(pass_rate="high")),
        ("bad_field", rec(image=5)),
        ("bad_encoding", b'{"question": "caf\xe9 au lait?", "answer": "A"}\n'),
        ("bad_json", b'{"question": "cut off", "answer": \n'),
        ("bad_json", b"[1, 2, 3]\n"),
        (None, rec(image="images/good.png", question="the last line still counts")),
    ]
    path = ds / "data.jsonl"
    path.write_bytes(b"".join(line for _, line in lines[:3]) + b"\n" + b"".join(line for _, line in lines[3:]))
    return path, lines, files


def _line_numbers(lines: list[tuple[str | None, bytes]]) -> list[int]:
    # The corpus has one blank line after the third record; refs count it, as editors do.
    return [i + 1 if i < 3 else i + 2 for i in range(len(lines))]


def test_every_bad_case_is_one_rejection_with_its_reason(ingest_cli, corpus):
    path, lines, files = corpus
    run = ingest_cli(path, "--format", "jsonl")
    assert run.rc == 0, run.stderr
    expected = {
        f"{path}:{n}": reason for n, (reason, _) in zip(_line_numbers(lines), lines, strict=True) if reason is not None
    }
    assert run.reasons() == expected
    kept = run.samples
    assert len(kept) == sum(1 for reason, _ in lines if reason is None)
    assert run.manifest["records_in"] == len(lines)
    assert kept[-1].question == "the last line still counts"
    # Exotic images are accepted as they are (clean converts them), with real sizes and hashes.
    by_path = {s.images[0].path: s.images[0] for s in kept if s.images and s.images[0].path}
    for name in ("cmyk.jpg", "palette.png", "gray16.png", "la.png"):
        im = by_path[f"images/{name}"]
        assert im.bytes == files[name] and (im.width, im.height) == (40, 30) and im.phash
    assert by_path["images/link_in.png"].bytes == files["good.png"]
    inline = next(s for s in kept if s.question == "inline base64")
    assert inline.images[0].path is None
    assert inline.images[0].bytes == png((9, 9, 200)) and inline.images[0].width == 48
    assert [len(s.images) for s in kept if s.question.startswith("Text only")] == [0, 0]


def test_rejections_say_what_and_keep_the_text(ingest_cli, corpus):
    path, lines, _ = corpus
    rows = {r["reject_ref"].rsplit(":", 1)[1]: r for r in ingest_cli(path).rejected}
    n = dict(zip([reason for reason, _ in lines], _line_numbers(lines), strict=True))  # a line with each reason
    bad_field_details = [r["reject_detail"] for r in rows.values() if r["reject_reason"] == "bad_field"]
    assert "question: expected a string, got list" in bad_field_details
    assert "pass_rate: expected a number in [0, 1], got string" in bad_field_details
    assert any(d.startswith("image:") for d in bad_field_details)
    assert "0xe9" in rows[str(n["bad_encoding"])]["reject_detail"]
    # An image failure keeps the whole sample (text, answer, id) in rejected/, so nothing is lost.
    broken = rows[str(n["image_truncated"])]
    assert broken["question"] == "What is shown?" and broken["answer"] == "A" and broken["id"]
    assert broken["reject_stage"] == "ingest"
    outside = rows[str(n["path_outside_dataset"])]
    assert "refused" in outside["reject_detail"] and outside["images"] == []


def test_path_outside_is_refused_before_it_is_opened(ingest_cli, corpus, tmp_path: Path, monkeypatch):
    from finereason.io.readers import image_refs

    opened: list[str] = []
    real_open = image_refs.os.open

    def spy(path, *args, **kw):
        opened.append(str(path))
        return real_open(path, *args, **kw)

    monkeypatch.setattr(image_refs.os, "open", spy)
    path, _, _ = corpus
    reasons = ingest_cli(path).reasons()  # one worker: the stage runs in this process
    assert list(reasons.values()).count("path_outside_dataset") == 3
    secret = str(tmp_path / "outside" / "secret.png")
    assert opened and secret not in opened


def test_empty_inputs_give_zero_records_not_a_crash(ingest_cli, tmp_path: Path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    run = ingest_cli(empty, "--format", "jsonl")
    assert run.rc == 0 and run.samples == [] and run.manifest["records_in"] == 0
    assert "empty file" in run.stderr
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n  \n")
    assert ingest_cli(blank).manifest["records_in"] == 0
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"")
    (folder / "b.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    (folder / "empty.parquet").write_bytes(b"")
    run = ingest_cli(folder)
    assert run.rc == 0 and len(run.samples) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_image_file(ingest_cli, tmp_path: Path):
    ds = tmp_path / "ds"
    (ds / "x.png").parent.mkdir(parents=True)
    (ds / "x.png").write_bytes(png())
    (ds / "x.png").chmod(0)
    path = ds / "d.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "a", "image": "x.png"}) + "\n")
    assert list(ingest_cli(path).reasons().values()) == ["image_unreadable"]


def test_nothing_outside_the_dataset_is_probed(ingest_cli, corpus, tmp_path: Path, monkeypatch):
    """Not even stat'ed: a path or a link leading out is refused from its text alone (issue 17)."""
    path, _, _ = corpus
    (path.parent / "images" / "rel_out.png").symlink_to("../../outside/secret.png")
    with path.open("a") as f:
        f.write(json.dumps({"question": "relative link out", "answer": "A", "image": "images/rel_out.png"}) + "\n")
    touched: list[str] = []
    for name in ("stat", "lstat", "readlink", "open", "access"):
        real = getattr(os, name)

        def spy(p, *args, _real=real, **kw):
            touched.append(os.fsdecode(p) if isinstance(p, (str, bytes, os.PathLike)) else str(p))
            return _real(p, *args, **kw)

        monkeypatch.setattr(os, name, spy)
    reasons = ingest_cli(path).reasons()  # one worker: the stage runs in this process
    monkeypatch.undo()
    assert list(reasons.values()).count("path_outside_dataset") == 4
    outside = str(tmp_path / "outside")
    assert touched and [p for p in touched if p.startswith(outside)] == []
