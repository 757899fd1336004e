"""Check every training example before the first step, and report the bad ones one by one.

Trainers fail mid-epoch, hours in, on one sample whose image tokens do not match its images or
that no longer fits after image expansion ("Image features and image tokens do not match",
LLaMA-Factory #5964/#7160, ms-swift #2228). The preflight instead encodes every example exactly
as the collator will (same processor, pixel bounds and template) and records its length, image
tokens and target tokens, or the reason it cannot be trained on. Examples longer than
``data.max_length`` are reported, never truncated (truncation would cut image tokens or the
answer).

Results are cached per export file under ``OUTPUT/preflight/`` (with the settings that produced
them), so a resumed or repeated run does not re-encode, and the pass runs over files on
``data.preflight_workers`` processes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finereason.io.store import atomic_write_json
from finereason.pipeline.lifeline import worker_pool
from finereason.pipeline.progress import StageProgress, say
from finereason.train.data import PixelBounds, SampleError, example_from_row, file_rows, iter_file

_SCHEMA = pa.schema([("length", pa.int64()), ("target_tokens", pa.int64()), ("image_tokens", pa.int64()),
                     ("reason", pa.string()), ("detail", pa.string())])
#: Problem lines printed on the terminal; the report file has them all.
SHOWN = 20


@dataclass(frozen=True)
class EncoderSpec:
    """How to build the :class:`~finereason.train.encode.Encoder` in a worker process (picklable)."""

    name_or_path: str
    family: str
    bounds: PixelBounds
    chat_template: str | None
    trust_remote_code: bool = False

    def build(self) -> Any:
        from finereason.train.encode import Encoder, configure_processor, load_processor
        from finereason.train.families import get_family

        family = get_family(self.family)
        processor = load_processor(self.name_or_path, family, trust_remote_code=self.trust_remote_code)
        configure_processor(processor, family, self.bounds, self.chat_template)
        return Encoder(processor, family, self.bounds)

    def identity(self) -> dict[str, Any]:
        import transformers

        d = asdict(self)
        d["chat_template"] = hashlib.sha256((self.chat_template or "").encode()).hexdigest()[:16]
        d["transformers"] = transformers.__version__
        return d


@dataclass
class Problem:
    index: int
    ref: str
    reason: str
    detail: str

    def line(self) -> str:
        return f"  sample {self.index} ({self.ref}): {self.reason}: {self.detail}"


@dataclass
class PreflightResult:
    """Per example (in export order): length in tokens, or 0 with a problem."""

    lengths: list[int]
    target_tokens: list[int]
    image_tokens: list[int]
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> list[int]:
        bad = {p.index for p in self.problems}
        return [i for i in range(len(self.lengths)) if i not in bad]

    def by_reason(self) -> dict[str, int]:
        return dict(Counter(p.reason for p in self.problems))

    def summary(self) -> dict[str, Any]:
        ok = self.ok
        lengths = [self.lengths[i] for i in ok]
        return {
            "samples": len(self.lengths),
            "ok": len(ok),
            "rejected": self.by_reason(),
            "tokens": sum(lengths),
            "image_tokens": sum(self.image_tokens[i] for i in ok),
            "target_tokens": sum(self.target_tokens[i] for i in ok),
            "max_length_seen": max(lengths, default=0),
        }


def _encode_file(spec: EncoderSpec, path: Path, limit: int | None, out: Path, encoder: Any = None) -> Path:
    """Encode the rows of one export file and write their stats (the unit of resumable work)."""
    encoder = encoder or spec.build()
    rows: list[dict[str, Any]] = []
    for i, row in enumerate(iter_file(path)):
        if limit is not None and i >= limit:
            break
        try:
            enc = encoder.encode(example_from_row(row))
        except SampleError as e:
            rows.append({"length": 0, "target_tokens": 0, "image_tokens": 0, "reason": e.reason, "detail": e.detail})
            continue
        reason = "no_target" if enc.target_tokens == 0 else None
        rows.append({"length": enc.length, "target_tokens": enc.target_tokens, "image_tokens": enc.image_tokens,
                     "reason": reason, "detail": "the target encodes to no tokens" if reason else None})
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=_SCHEMA), tmp)
    tmp.replace(out)
    return out


def run_preflight(
    files: list[Path],
    spec: EncoderSpec,
    *,
    max_length: int,
    cache_dir: Path,
    workers: int = 1,
    limit: int | None = None,
    encoder: Any = None,
) -> PreflightResult:
    """Encode every example (cached per file) and collect lengths and per-sample problems."""
    counts = [file_rows(f) for f in files]
    if limit is not None:  # the first ``limit`` examples over all files
        take, left = [], limit
        for n in counts:
            take.append(min(n, left))
            left -= take[-1]
    else:
        take = counts
    settings = {"encoder": spec.identity(), "files": [str(f.resolve()) for f in files], "take": take}
    marker = cache_dir / "_settings.json"
    if marker.exists() and json.loads(marker.read_text()) != json.loads(json.dumps(settings)):
        shutil.rmtree(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, settings)
    outs = [cache_dir / f"{i:05d}-{f.stem}.parquet" for i, f in enumerate(files)]
    todo = [i for i, o in enumerate(outs) if not o.exists() and take[i] > 0]
    with StageProgress("preflight", len(files)) as bar:
        bar.advance(len(files) - len(todo))
        if workers <= 1 or len(todo) <= 1:
            encoder = encoder or (spec.build() if todo else None)
            for i in todo:
                _encode_file(spec, files[i], take[i], outs[i], encoder)
                bar.advance()
        else:
            with worker_pool(min(workers, len(todo))) as pool:
                for _ in pool.map(_encode_file, [spec] * len(todo), [files[i] for i in todo],
                                  [take[i] for i in todo], [outs[i] for i in todo]):
                    bar.advance()
    result = PreflightResult([], [], [])
    for f, out, n in zip(files, outs, take):
        if n == 0:
            continue
        for row_index, row in enumerate(pq.read_table(out).to_pylist()):
            index = len(result.lengths)
            result.lengths.append(row["length"])
            result.target_tokens.append(row["target_tokens"])
            result.image_tokens.append(row["image_tokens"])
            ref = f"{f.name} row {row_index}"
            if row["reason"]:
                result.problems.append(Problem(index, ref, row["reason"], row["detail"]))
            elif row["length"] > max_length:
                result.problems.append(Problem(index, ref, "too_long", f"{row['length']} tokens ({row['image_tokens']} "
                                                                       f"image tokens) > data.max_length {max_length}"))
    return result


def write_report(result: PreflightResult, path: Path, *, policy: str) -> None:
    """``report.json`` with every problem, and the first :data:`SHOWN` of them on stderr."""
    atomic_write_json(path, {**result.summary(), "policy": policy,
                             "problems": [asdict(p) for p in result.problems]})
    s = result.summary()
    say(f"preflight: {s['samples']} samples, {s['ok']} ok, {s['tokens']} tokens "
        f"({s['image_tokens']} image, {s['target_tokens']} target), longest {s['max_length_seen']}")
    if result.problems:
        reasons = ", ".join(f"{k}={v}" for k, v in sorted(result.by_reason().items()))
        say(f"preflight: {len(result.problems)} sample(s) cannot be trained on ({reasons}):")
        for p in result.problems[:SHOWN]:
            say(p.line())
        if len(result.problems) > SHOWN:
            say(f"  … {len(result.problems) - SHOWN} more in {path}")
