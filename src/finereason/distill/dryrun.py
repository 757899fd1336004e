"""``--dry-run``: what a teacher stage would cost before anything is spent.

Prompt tokens are estimated from the rendered text (~4 characters a token) plus image tokens
as Qwen-VL counts them (one token per 28×28 patch, after resizing into its pixel bounds);
completion tokens from the paper's measured means unless told otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow.parquet as pq

from finereason.distill.messages import question_text
from finereason.distill.stage import TeacherStage
from finereason.io.store import Dataset
from finereason.schema import row_to_sample

#: Qwen2/3-VL defaults: 28-px merged patches, at most 16384×28×28 pixels an image.
PATCH = 28
MAX_PIXELS = 16384 * PATCH * PATCH
MIN_PIXELS = 4 * PATCH * PATCH


def image_tokens(width: int, height: int) -> int:
    pixels = min(max(width * height, MIN_PIXELS), MAX_PIXELS)
    return max(1, math.ceil(pixels / (PATCH * PATCH)))


@dataclass
class Estimate:
    stage: str
    teacher: str
    requests: int
    samples_per_request: int
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float

    @property
    def hours(self) -> float:
        return self.completion_tokens / self.tokens_per_s / 3600


def estimate(src: Dataset, stage: TeacherStage, expected_tokens: int, tokens_per_s: float) -> Estimate:
    template = stage.template()
    n, prompt = 0, 0
    for path in src.shard_paths():
        for row in pq.read_table(path, columns=["id", "source", "question", "options", "images", "meta"]).to_pylist():
            row["images"] = [{**im, "bytes": b""} for im in row["images"] or []]  # sizes only
            s = row_to_sample(row)
            n += 1
            prompt += len(template.render(question=question_text(s))) // 4
            prompt += sum(image_tokens(im.width, im.height) for im in s.images)
    k = stage.params.n
    return Estimate(stage.name, stage.teacher, n, k, prompt, n * k * min(expected_tokens, stage.params.max_tokens),
                    tokens_per_s)


def print_estimate(e: Estimate) -> None:
    print(f"{e.stage} dry run with {e.teacher}:")
    print(f"  requests            {e.requests} (× {e.samples_per_request} samples each)")
    print(f"  prompt tokens       ~{e.prompt_tokens:,}")
    print(f"  completion tokens   ~{e.completion_tokens:,}")
    print(f"  time at {e.tokens_per_s:,.0f} tok/s   ~{e.hours:.2f} h")
    print("  nothing was sent.")
