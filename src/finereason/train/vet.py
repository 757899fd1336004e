"""Visual extraction tuning (VET) data: teacher descriptions that carry a conversation's answers.

Downscaling Intelligence (arXiv 2511.17487, §4.1) trains a small perception module to *extract*
what questions about an image need, rather than to caption it. From a visual QA set (LLaVA-style
conversations: several question-answer pairs about one image):

1. **statements** (text only, prompt ``vet_statements``): the teacher rewrites the conversation's
   QA pairs as short declarative statements, one per pair ("What colour is the bus? / Red" →
   "The bus is red.");
2. **description** (image + text, prompt ``vet_describe``): the describer (an image-capable model,
   by default the teacher) writes a fine-grained description of the image that incorporates the
   statements. This is the training target;
3. **instruction**: the seed paper's training-time "pay attention to <contents>" phrases that
   summarise a conversation's questions were never released, so here is our generator: the
   teacher writes one Prism-style "contents to observe" phrase per question (prompt
   ``contents_to_observe``, the question only, never the answer, so the instruction cannot leak
   it), duplicates are dropped, and the phrases are joined with "; " into the ``extract``
   prompt: "Describe the fine-grained content of the image … Especially, pay attention to
   <phrase 1>; <phrase 2>." One phrase per question matches what the perception module sees at
   evaluation time (Extract+Think asks with one question's phrase), while the joined form
   teaches it to cover several at once. If no phrase survives, the generic ``describe_generic``
   instruction is used and counted (``contents_fallback``).

Grouping: samples sharing ``meta.conversation_id`` (set by ``finereason ingest --format llava``)
form one conversation, in ``meta.turn`` order; samples without one are grouped by their first
image's sha256, so any canonical dataset of QA pairs about the same images works. Groups are
formed over the whole input (a first pass reads only ids, meta and image hashes); each group is
processed with the shard of its first member.

Output: one canonical sample per conversation (question = instruction, response = description,
images = the conversation's images, ``meta``: conversation_id, questions, statements, contents),
ready for ``finereason export``. Rejections keep every input sample with the reason:
``no_image`` (a QA pair without an image), ``no_statements``, ``empty_description``,
``truncated`` (a reply cut at the token budget is not trusted), ``model_failed``.

Training the perception module and using it: export the VET dataset (``--format trl``), train it
with ``finereason train sft`` (recipe ``tiny-cpu-demo`` or ``mmfinereason-*`` with the vision tower
unfrozen if wanted), then pass ``hf:OUTPUT/final`` as the perception model of
``finereason eval --mode extract-think``: its prompt is the same ``extract`` template.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from finereason.io.store import read_shard
from finereason.models.types import Completion, Message, ModelError, SamplingParams
from finereason.pipeline.stage import StageResult, Task
from finereason.prompts import load_prompt
from finereason.schema import Rejection, Sample, stable_id

IMAGE_TAG = "<image>"
_NUMBERING = re.compile(r"^\s*(?:[-*•]|\(?\d+[.):]|statement\s*#?\d+[.:)]?)\s*", re.IGNORECASE)
_CONTENTS_PREFIX = re.compile(r"^\s*contents to observe\s*:\s*", re.IGNORECASE)


# ---- grouping ------------------------------------------------------------------------------------

def group_key(meta: dict[str, str], first_sha256: str | None) -> str | None:
    """``conv:<id>`` from the LLaVA reader's meta, else ``image:<sha256>``; None without an image."""
    raw = meta.get("conversation_id")
    if raw is not None:
        return f"conv:{raw}"
    return f"image:{first_sha256}" if first_sha256 else None


@dataclass
class GroupPlan:
    """Where every conversation's members are: ``(shard, row)`` pairs, and samples without images."""

    members: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    no_image: dict[int, list[int]] = field(default_factory=dict)

    def by_first_shard(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, places in self.members.items():
            out.setdefault(places[0][0], []).append(key)
        return out


def plan_groups(paths: list[Path]) -> GroupPlan:
    """First pass over the input: reads only meta and image hashes, one shard at a time."""
    plan = GroupPlan()
    for shard, path in enumerate(paths):
        table = pq.ParquetFile(path).read(columns=["meta", "images.list.element.sha256"])
        for row, (meta, images) in enumerate(zip(table.column("meta").to_pylist(), table.column("images").to_pylist())):
            meta = dict(meta or [])
            key = group_key(meta, images[0]["sha256"] if images else None) if images else None
            if key is None:
                plan.no_image.setdefault(shard, []).append(row)
            else:
                plan.members.setdefault(key, []).append((shard, row))
    return plan


@dataclass
class VetGroup:
    key: str
    samples: list[Sample]


@dataclass
class VetBatch:
    groups: list[VetGroup]
    no_image: list[Sample]

    def __len__(self) -> int:
        return sum(len(g.samples) for g in self.groups) + len(self.no_image)


@dataclass(frozen=True)
class VetShardLoader:
    """Loads the groups whose first member is in shard ``index`` (members elsewhere read from their shard)."""

    index: int
    paths: tuple[Path, ...]
    keys: tuple[str, ...]
    members: tuple[tuple[tuple[int, int], ...], ...]
    no_image_rows: tuple[int, ...]

    def __call__(self) -> VetBatch:
        shards: dict[int, list[Sample]] = {self.index: read_shard(self.paths[self.index])}
        groups = []
        for key, places in zip(self.keys, self.members):
            samples = []
            for shard, row in places:
                if shard not in shards:
                    shards[shard] = read_shard(self.paths[shard])
                samples.append(shards[shard][row])
            samples.sort(key=lambda s: (s.meta_get("turn", 0) if "turn" in s.meta else 0))
            groups.append(VetGroup(key, samples))
        return VetBatch(groups, [shards[self.index][r] for r in self.no_image_rows])


def vet_tasks(paths: list[Path], plan: GroupPlan) -> list[Task]:
    first = plan.by_first_shard()
    tasks = []
    for i in range(len(paths)):
        keys = tuple(first.get(i, []))
        tasks.append(Task(i, VetShardLoader(i, tuple(paths), keys, tuple(tuple(plan.members[k]) for k in keys),
                                            tuple(plan.no_image.get(i, [])))))
    return tasks


# ---- text helpers --------------------------------------------------------------------------------

def question_text(sample: Sample) -> str:
    """The question without image placeholders, with its options if it has any."""
    text = sample.question.replace(IMAGE_TAG, " ").strip()
    text = re.sub(r"[ \t]+", " ", text)
    if sample.options:
        text += "\nOptions: " + " ".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(sample.options))
    return text


def visible(text: str) -> str:
    """A reply without its ``<think>`` block."""
    return text.rsplit("</think>", 1)[1] if "</think>" in text else text


def parse_statements(text: str) -> list[str]:
    lines = [_NUMBERING.sub("", line).strip() for line in visible(text).splitlines()]
    return [line for line in lines if line]


def parse_contents(text: str) -> str:
    """First non-empty line, without an echoed label or a final period (the prompt adds one)."""
    for line in visible(text).splitlines():
        line = _CONTENTS_PREFIX.sub("", line).strip().strip('"').rstrip(" .")
        if line:
            return line
    return ""


def join_contents(phrases: list[str]) -> str:
    seen: dict[str, str] = {}
    for p in phrases:
        seen.setdefault(p.lower(), p)
    return "; ".join(seen.values())


class GroupRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# ---- the stage -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VetSettings:
    teacher: str
    describer: str
    max_tokens: int = 2048
    temperature: float = 0.0

    def params(self, max_tokens: int) -> SamplingParams:
        greedy = self.temperature <= 0
        return SamplingParams(max_tokens=max_tokens, temperature=self.temperature,
                              top_p=1.0 if greedy else 0.95, seed=0)


class VetStage:
    """Async stage: one VET record per conversation, through journaled model clients."""

    name = "vet"
    version = "1"

    def __init__(self, teacher: Any, describer: Any, settings: VetSettings) -> None:
        self.teacher = teacher  # anything with ``async complete(messages, params)``: a ModelClient
        self.describer = describer
        self.settings_ = settings
        self.prompts = {name: load_prompt(name) for name in
                        ("vet_statements", "vet_describe", "contents_to_observe", "extract", "describe_generic")}

    def settings(self) -> dict[str, Any]:
        return {**self.settings_.__dict__, "prompts": {k: p.ref for k, p in self.prompts.items()}}

    def _clients(self) -> list[Any]:
        return [self.teacher] if self.describer is self.teacher else [self.teacher, self.describer]

    def open(self, context: Any = None) -> None:
        """The clients come opened (``vet build`` attaches their journals once the folder is checked)."""

    def status(self) -> str:
        used = [c.usage for c in self._clients()]
        return (f"{sum(u.requests for u in used)} requests · {sum(u.cached for u in used)} journaled · "
                f"{sum(u.failed for u in used)} failed")

    async def aclose(self) -> None:
        for client in self._clients():
            await client.aclose()

    async def _ask(self, client: Any, messages: list[Message], max_tokens: int, what: str) -> str:
        try:
            completion: Completion = (await client.complete(messages, self.settings_.params(max_tokens)))[0]
        except ModelError as e:
            if e.retryable:
                raise  # the shard stays unfinished; a rerun retries it, journaled answers are free
            raise GroupRejected("model_failed", f"{what}: {e}") from e
        if completion.truncated:
            raise GroupRejected("truncated", f"the {what} reply hit the {max_tokens}-token budget")
        return completion.text

    async def _contents(self, question: str, budget: int, counts: Counter[str]) -> str:
        prompt = self.prompts["contents_to_observe"].render(question=question)
        try:
            phrase = parse_contents(await self._ask(self.teacher, [{"role": "user", "content": prompt}], budget,
                                                    "contents"))
        except GroupRejected:
            phrase = ""  # one phrase missing narrows the instruction; the record is still valid
        if not phrase:
            counts["contents_missing"] += 1
        return phrase

    async def one(self, group: VetGroup, counts: Counter[str]) -> Sample:
        samples = [s for s in group.samples if (s.answer or "").strip()]
        if not samples:
            raise GroupRejected("no_statements", "no question of the conversation has an answer")
        questions = [question_text(s) for s in samples]
        qa = "\n".join(f"Question #{i}: {q}\nAnswer: {s.answer.strip()}"  # type: ignore[union-attr]
                       for i, (q, s) in enumerate(zip(questions, samples), 1))
        half = max(64, self.settings_.max_tokens // 2)
        statements_task = self._ask(self.teacher, [{"role": "user", "content": self.prompts["vet_statements"]
                                    .render(qa_pairs=qa)}], half, "statements")
        statements, *phrases = await asyncio.gather(statements_task,
                                                    *(self._contents(q, half, counts) for q in questions))
        lines = parse_statements(statements)
        if not lines:
            raise GroupRejected("no_statements", "the teacher wrote no statement")
        images = samples[0].images
        parts: list[dict[str, Any]] = [{"type": "image", "image": im.bytes} for im in images]
        parts.append({"type": "text", "text": self.prompts["vet_describe"].render(statements="\n".join(lines))})
        description = visible(await self._ask(self.describer, [{"role": "user", "content": parts}],
                                              self.settings_.max_tokens, "description")).strip()
        if not description:
            raise GroupRejected("empty_description", "the describer wrote nothing")
        contents = join_contents([p for p in phrases if p])
        if contents:
            instruction = self.prompts["extract"].render(contents=contents).strip()
        else:
            counts["contents_fallback"] += 1
            instruction = self.prompts["describe_generic"].render().strip()
        first = samples[0]
        record = Sample(id=stable_id("vet", group.key, first.source), source=first.source, domain=first.domain,
                        question=instruction, images=list(images), response=description)
        record.meta_set("conversation_id", group.key)
        record.meta_set("questions", questions)
        record.meta_set("statements", lines)
        record.meta_set("contents", contents)
        record.meta_set("members", [s.id for s in group.samples])
        counts["qa_pairs"] += len(samples)
        return record

    async def _guarded(self, group: VetGroup, counts: Counter[str]) -> Sample | list[Rejection]:
        try:
            return await self.one(group, counts)
        except GroupRejected as e:
            return [Rejection(self.name, e.reason, e.detail, s) for s in group.samples]

    async def run(self, batch: VetBatch) -> StageResult:
        counts: Counter[str] = Counter()
        results = await asyncio.gather(*(self._guarded(g, counts) for g in batch.groups))
        kept = [r for r in results if isinstance(r, Sample)]
        rejected = [rej for r in results if isinstance(r, list) for rej in r]
        rejected += [Rejection(self.name, "no_image", "a VET record needs the image its questions are about", s)
                     for s in batch.no_image]
        counts["conversations"] += len(batch.groups)
        return StageResult(kept, rejected, records_in=len(batch), stats=dict(counts))
