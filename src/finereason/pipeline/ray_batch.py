"""Model stages as Ray Data batch inference (``--engine ray --ray-data-llm``): the model runs in the job.

For teams that run the teacher inside the job instead of behind servers. A ``vllm:`` model is
served by Ray Data LLM (``ray.data.llm``'s vLLM processor: one vLLM engine per replica, each on
``--gpus-per-actor`` GPUs, tensor-parallel across them); an ``hf:`` or ``builtin:`` model by a
Ray Data actor pool holding it in transformers. Either way Ray Data schedules, batches and
streams; this module keeps our promises around it:

* **Rounds.** The stage runs on the driver with in-job models *deferred*
  (:mod:`finereason.models.deferred`): requests the journal cannot answer go to a spool of
  Parquet files under ``OUT/.ray-data-llm/round-N/`` and their shards are left to redo. Ray
  Data answers the spool, the driver journals every answer as it streams back, and the next
  round finds them. A round with nothing deferred writes the final shards. A stage whose
  prompts depend on answers (a perceiver's description inside a reasoner's prompt) takes one
  round per step.
* **Exactly once.** The journal is written by the driver as rows arrive, so a killed job loses
  only the rows in flight; a rerun (on any engine) asks only for what never came back.
* **Failures.** A row that fails is journaled as failed and deferred again next round, up to
  the engine's ``max_retries``; then its sample is rejected as failed, as on the other engines.

The spool folder is under ``OUT``, which every node mounts, so Ray Data reads it on the nodes
and only answers travel to the driver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from finereason.io.store import Dataset
from finereason.models.deferred import Spool, decode_messages, decode_params
from finereason.models.journal import Journal
from finereason.models.session import deferring
from finereason.models.spec import parse_spec
from finereason.models.types import Completion, ModelError
from finereason.pipeline import engine as local
from finereason.pipeline.manifest import RunInfo, write_manifest
from finereason.pipeline.progress import StageProgress, say
from finereason.pipeline.stage import AsyncStage, Task

if TYPE_CHECKING:
    from finereason.pipeline.ray_engine import RayEngine

#: Where the spool of deferred requests lives, under the output folder.
SPOOL_DIR = ".ray-data-llm"
#: Rounds after which a stage is assumed to be asking forever (no stage here needs more than 3).
MAX_ROUNDS = 20
#: Rows Ray Data hands one model replica at a time.
BATCH_ROWS = 64


async def run_in_rounds(engine: RayEngine, stage: AsyncStage, tasks: Iterable[Task], out_dir: str | os.PathLike[str],
                        info: RunInfo, *, shards_in_flight: int = 4, total: int | None = None,
                        overwrite: bool = False, status: Any = None, start: Any = None) -> dict[str, Any]:
    """Run ``stage`` round by round until no request is deferred; returns the final manifest."""
    ray = engine.connect()
    quiet_ray_data(ray)
    tasks = list(tasks)
    out = Dataset(out_dir)
    local.prepare_output(out, info, overwrite)
    engine.check_shared(ray, out.root)
    started = time.time()
    spool = Spool(out.root / SPOOL_DIR, retries=engine.max_retries)
    rounds: list[dict[str, Any]] = []
    for _ in range(MAX_ROUNDS):
        spool.new_round()
        with deferring(spool):
            await local.run_async_stage(stage, tasks, out_dir, info, shards_in_flight=shards_in_flight, total=total,
                                        status=status, start=start if spool.round == 1 else None)
        spool.flush()
        if not spool.count:
            shutil.rmtree(spool.root, ignore_errors=True)  # every answer is in the journal
            extra = {**info.extra, "ray_data_llm": {"rounds": rounds, "replicas": replicas(engine, ray)}}
            return write_manifest(out, replace(info, extra=extra), out.done_counts(), time.time() - started)
        say(f"ray data: round {spool.round}: {spool.count} request(s) to answer ("
            + ", ".join(f"{n} for {spec}" for spec, n in spool.by_model.items()) + ")")
        rounds.append({"round": spool.round, "requests": dict(spool.by_model)})
        for spec in spool.by_model:
            await answer(engine, ray, spool, spec)
    raise RuntimeError(f"{info.stage}: still deferring requests after {MAX_ROUNDS} rounds; this stage "
                       "keeps asking new questions (a bug: please report it with the stage and settings)")


def quiet_ray_data(ray: Any) -> None:
    """Our bar counts answered requests; Ray Data's own bars and 10-second log lines would bury it."""
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


async def answer(engine: RayEngine, ray: Any, spool: Spool, spec: str) -> None:
    """Have Ray Data answer ``spec``'s requests of this round; journal each row as it arrives."""
    ds = ray.data.read_parquet(str(spool.model_folder(spec)))
    kind = parse_spec(spec).kind
    results = vllm_answers(engine, ray, ds, spec) if kind == "vllm" else hf_answers(engine, ds, spec)
    journals: dict[str, Journal] = {}
    rows = iter(results.iter_rows())
    n = spool.by_model[spec]
    done = failed = tokens = 0
    try:
        with StageProgress(f"ray data: {spec}", n, unit="requests") as bar:
            while True:
                row = await asyncio.to_thread(next, rows, None)
                if row is None:
                    break
                journal = journals.get(row["journal"]) or journals.setdefault(row["journal"], Journal(row["journal"]))
                params = decode_params(row["params"])
                if row["error"]:
                    reason, _, detail = row["error"].partition(": ")
                    attempts = spool.failures.get(row["key"], (0, "", ""))[0] + 1
                    spool.failures[row["key"]] = (attempts, reason, detail)
                    await journal.put_failure(row["key"], row["model_id"], params, ModelError(reason, detail))
                    failed += 1
                else:
                    completions = [Completion(**c) for c in json.loads(row["completions"])]
                    await journal.put(row["key"], row["model_id"], params, completions)
                    tokens += sum(c.completion_tokens for c in completions)
                done += 1
                bar.advance()
                bar.status(f"{tokens} tokens · {failed} failed")
    finally:
        for journal in journals.values():
            await journal.aclose()
    say(f"ray data: {spec}: {done - failed} answered, {failed} failed, {tokens} completion tokens")


def replicas(engine: RayEngine, ray: Any) -> int:
    """Model replicas: ``--actors`` if given, else one per ``--gpus-per-actor`` GPUs, else one per node."""
    if engine.actors:
        return engine.actors
    if engine.gpus_per_actor:
        return max(1, int(ray.cluster_resources().get("GPU", 0) // engine.gpus_per_actor))
    from finereason.pipeline.ray_engine import alive_nodes

    return max(1, len(alive_nodes(ray)))


# ---- hf: and builtin: models: a Ray Data actor pool holding the model ------------------------------

class InJobModel:
    """A Ray Data actor: loads one ``hf:``/``builtin:`` model and answers batches of spooled requests.

    The rows of a batch are sent concurrently, so the backend's own batching groups them.
    """

    def __init__(self, spec: str) -> None:
        from finereason.models.spec import load_model

        self.model = load_model(spec)
        self.loop = asyncio.new_event_loop()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        async def one(messages: str, params: str) -> tuple[str, str]:
            try:
                completions = await self.model.complete(decode_messages(messages), decode_params(params))
            except ModelError as e:
                return "", f"{e.reason}: {e.detail}"
            return json.dumps([asdict(c) for c in completions]), ""

        async def all_rows() -> list[tuple[str, str]]:
            return await asyncio.gather(*(one(m, p) for m, p in zip(batch["messages"], batch["params"])))

        answers = self.loop.run_until_complete(all_rows())
        return {**_passthrough(batch), "completions": [a for a, _ in answers], "error": [e for _, e in answers]}


def hf_answers(engine: RayEngine, ds: Any, spec: str) -> Any:
    import ray

    return ds.map_batches(InJobModel, fn_constructor_args=(spec,), batch_size=BATCH_ROWS,
                          compute=ray.data.ActorPoolStrategy(size=replicas(engine, ray)),
                          num_cpus=engine.actor_cpus, num_gpus=engine.gpus_per_actor or None)


def _passthrough(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("key", "model_id", "params", "journal")}


# ---- vllm: models: Ray Data LLM's vLLM processor ------------------------------------------------------

def vllm_answers(engine: RayEngine, ray: Any, ds: Any, spec: str) -> Any:
    raise NotImplementedError
