"""Deferred requests: a stage pass that writes down the requests it would send instead of sending them.

Why: batch inference on Ray Data (``--ray-data-llm``) runs the model inside the job, as a
dataset pipeline, not behind a client a stage can call. So a model stage runs in rounds. In a
round, every request the journal cannot answer is *deferred*: appended to a spool of Parquet
files and failed with reason ``deferred``, so its shard is redone next round. Ray Data then
answers the whole spool and the driver writes each answer to the same request journal as any
other backend. The next round finds those answers in the journal and defers only requests that
depended on them (a reasoner's prompt that embeds a perceiver's description). The journal stays
the one record of what was paid for, so resume, exactly-once and the output are those of the
other engines.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finereason.errors import UserError
from finereason.models.journal import request_key
from finereason.models.spec import parse_spec
from finereason.models.types import Completion, Message, Model, ModelError, SamplingParams

#: The :attr:`ModelError.reason` of a request written down for a Ray Data round instead of sent.
DEFERRED = "deferred"
#: Backends that can run inside a Ray Data job (endpoints are served by client actors instead).
IN_JOB_KINDS = ("vllm", "hf", "builtin")
#: Requests per spool file: bounds the driver's memory and gives Ray Data files to split over.
ROWS_PER_FILE = 2000


@dataclass
class Spool:
    """The deferred requests of one run: per round a folder, per model a subfolder of Parquet files.

    Each request is spooled once per round. ``failures`` counts failed attempts per request key
    across rounds (filled in by whoever answers the spool); a request that failed more than
    ``retries`` times is failed for good instead of deferred again, so a round loop always ends.
    """

    root: Path
    retries: int = 3
    round: int = 0
    failures: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    by_model: dict[str, int] = field(default_factory=dict)
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _files: dict[str, int] = field(default_factory=dict, repr=False)
    _keys: set[str] = field(default_factory=set, repr=False)

    def new_round(self) -> None:
        """Start round ``round + 1`` with an empty folder (one left by a killed run is cleared)."""
        self.round += 1
        self._keys.clear()
        self._rows.clear()
        self._files.clear()
        self.by_model = {}
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    @property
    def folder(self) -> Path:
        return self.root / f"round-{self.round:03d}"

    def model_folder(self, spec: str) -> Path:
        """Where this round's requests for ``spec`` are (Ray Data reads one model's folder at a time)."""
        return self.folder / f"model-{list(self.by_model).index(spec):02d}"

    def add(self, spec: str, model_id: str, messages: list[Message], params: SamplingParams, journal: str) -> None:
        """Defer one request (answers go to ``journal``), or raise its final error once it failed too often."""
        key = request_key(model_id, messages, params)
        attempts, reason, detail = self.failures.get(key, (0, "", ""))
        if attempts > self.retries:
            raise ModelError(reason, f"{detail} (attempt {attempts})")
        if key in self._keys:
            return
        self._keys.add(key)
        self.by_model[spec] = self.by_model.get(spec, 0) + 1
        rows = self._rows.setdefault(spec, [])
        # Column names stay clear of those Ray Data LLM adds to a row (its ``params``, ``prompt``).
        rows.append({"key": key, "model_id": model_id, "messages": encode_messages(messages),
                     "request_params": json.dumps(params.as_dict()), "journal": journal})
        if len(rows) >= ROWS_PER_FILE:
            self._write(spec)

    def flush(self) -> None:
        for spec in list(self._rows):
            self._write(spec)

    def _write(self, spec: str) -> None:
        rows = self._rows.pop(spec, [])
        if not rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self.model_folder(spec)
        folder.mkdir(parents=True, exist_ok=True)
        index = self._files.get(spec, 0)
        pq.write_table(pa.Table.from_pylist(rows), folder / f"part-{index:05d}.parquet")
        self._files[spec] = index + 1

    @property
    def count(self) -> int:
        return len(self._keys)


class DeferredModel:
    """Stands in for an in-job model during a round: answers nothing, defers every request it gets.

    It has the real model's identity (so journal keys match those of a direct run) and says
    whether that model takes images by reading its config, without loading any weights.
    """

    max_concurrency = 1 << 16  # deferring is free: let every sample of the shards in flight ask

    def __init__(self, spec: str, spool: Spool, journal: str | None) -> None:
        parsed = parse_spec(spec)
        if not journal:
            raise UserError(f"--ray-data-llm needs a request journal for {spec}: its answers reach the stage there")
        if parsed.kind not in IN_JOB_KINDS:
            raise UserError(
                f"--ray-data-llm runs the model inside the job, which {spec!r} is not: give a vllm:, hf: or "
                "builtin: spec, or drop --ray-data-llm to send requests to endpoints from client actors"
            )
        self.spec = self.model_id = spec
        self.spool = spool
        self.journal = str(Path(journal).resolve())
        self.accepts_images = accepts_images(spec)

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        self.spool.add(self.spec, self.model_id, messages, params, self.journal)
        raise ModelError(DEFERRED, "answered by the next Ray Data round", postponed=True)

    async def aclose(self) -> None:
        return None


def deferring_loader(spool: Spool) -> Callable[[str, str | None], Model]:
    """A :class:`~finereason.models.session.RunContext` ``loader`` that defers to ``spool``."""

    def load(spec: str, journal: str | None) -> Model:
        return DeferredModel(spec, spool, journal)

    return load


def accepts_images(spec: str) -> bool:
    """Whether an in-job model is a VLM, from its config alone (no weights are loaded)."""
    parsed = parse_spec(spec)
    if parsed.kind == "builtin":
        return False
    from transformers import AutoConfig

    from finereason.models.hf import is_vlm_config
    from finereason.models.processors import register_processors

    register_processors()
    return is_vlm_config(AutoConfig.from_pretrained(str(Path(parsed.model).expanduser())))


def encode_messages(messages: list[Message]) -> str:
    """Messages as JSON: image bytes as base64 (``image_b64``), everything else as is."""
    def part(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("type") == "image":
            return {"type": "image", "image_b64": base64.b64encode(p["image"]).decode("ascii")}
        return p

    return json.dumps([m if isinstance(m.get("content"), str) else {**m, "content": [part(p) for p in m["content"]]}
                       for m in messages])


def decode_messages(text: str) -> list[Message]:
    """The inverse of :func:`encode_messages`."""
    def part(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("type") == "image":
            return {"type": "image", "image": base64.b64decode(p["image_b64"])}
        return p

    return [m if isinstance(m.get("content"), str) else {**m, "content": [part(p) for p in m["content"]]}
            for m in json.loads(text)]


def decode_params(text: str) -> SamplingParams:
    """``SamplingParams`` from its ``as_dict`` JSON (lists back to the hashable tuples it holds)."""
    def tup(v: Any) -> Any:
        return tuple(tup(x) for x in v) if isinstance(v, list) else v

    d = json.loads(text)
    return SamplingParams(**{**d, "stop": tup(d.get("stop", [])), "extra": tup(d.get("extra", []))})
