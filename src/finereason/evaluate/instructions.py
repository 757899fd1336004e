"""Query-specific perception instructions ("contents to observe"), written once and cached in a file.

Prism had each reasoning LLM write its own instructions, so comparing two reasoners also compared
two instruction sets. The Downscaling protocol fixes one instruction model for every pair; we go
one step further and keep its phrases in a JSON file that every run (and every grid cell) reads,
so all perception/reasoning pairs see byte-identical instructions. The file records which model
and prompt wrote it; reusing it with a different instruction model is refused, not mixed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from finereason.errors import UserError
from finereason.evaluate.calls import ModelPool, call
from finereason.evaluate.items import EvalItem
from finereason.evaluate.progress import ItemProgress
from finereason.models.types import SamplingParams
from finereason.prompts import load_prompt

PROMPT = "contents_to_observe"


class InstructionCacheError(UserError):
    """An instructions file written by another model or prompt, or one that is not ours."""


@dataclass(frozen=True)
class Instruction:
    """The phrase for one item; ``fallback`` when the model's reply was unusable (generic instruction used)."""

    contents: str | None
    raw: str
    fallback: bool = False


def clean_phrase(reply: str) -> str | None:
    """The first line of the reply, without a "Contents to observe:" label, quotes or final period."""
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.S)
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:contents to observe|answer)\s*:\s*", "", line.strip(), flags=re.I)
        line = line.strip().strip("\"'`*").strip().rstrip(".").strip()
        if line:
            return line
    return None


class InstructionCache:
    """``{"instruction_model", "prompt", "items": {id: {"contents", "raw", "fallback"}}}`` in one JSON file."""

    def __init__(self, path: Path, model: str, prompt_ref: str) -> None:
        self.path, self.model, self.prompt_ref = path, model, prompt_ref
        self.items: dict[str, Instruction] = {}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                stored = {k: Instruction(v.get("contents"), v.get("raw", ""), bool(v.get("fallback")))
                          for k, v in data["items"].items()}
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
                raise InstructionCacheError(f"{path}: not an instructions file ({err})") from err
            if data.get("instruction_model") != model or data.get("prompt") != prompt_ref:
                raise InstructionCacheError(
                    f"{path} holds instructions written by {data.get('instruction_model')!r} with prompt "
                    f"{data.get('prompt')!r}, not {model!r} with {prompt_ref!r}: every run must see the same "
                    "instructions, so use that instruction model or another --instructions-file"
                )
            self.items = stored

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "instruction_model": self.model,
            "prompt": self.prompt_ref,
            "items": {k: {"contents": v.contents, "raw": v.raw, "fallback": v.fallback} for k, v in self.items.items()},
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(self.path)


async def ensure_instructions(
    items: list[EvalItem],
    questions: dict[str, str],
    *,
    cache_path: Path,
    model_spec: str,
    params: SamplingParams,
    pool: ModelPool,
) -> dict[str, Instruction]:
    """Instructions for every item, from the cache or written now (the instruction model loads only if needed)."""
    prompt = load_prompt(PROMPT, expect={"question"})
    cache = InstructionCache(cache_path, model_spec, prompt.ref)
    todo = [item for item in items if item.id not in cache.items]
    if todo:
        client = pool.get(model_spec)
        with ItemProgress("instructions", len(todo)) as progress:

            async def one(item: EvalItem) -> None:
                done = await call(client, [{"role": "user", "content": prompt.render(question=questions[item.id])}], params)
                if done.error is None:
                    phrase = clean_phrase(done.text or "")
                    cache.items[item.id] = Instruction(phrase, done.text or "", fallback=phrase is None)
                progress.advance()

            await asyncio.gather(*(one(item) for item in todo))
        cache.save()
    return {item.id: cache.items[item.id] for item in items if item.id in cache.items}
