"""Deferred requests (the rounds of --ray-data-llm): spooled once, keyed as a direct call would be,
never journaled as failures, and failed for good after the retry limit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from finereason.errors import UserError
from finereason.models.client import ModelClient
from finereason.pipeline.ray_deferred import DeferredModel, deferring_loader, Spool, decode_messages, decode_params, encode_messages
from finereason.models.journal import Journal, request_key
from finereason.models.session import LazyClient, RunContext
from finereason.models.types import Completion, ModelError, SamplingParams

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
MESSAGES = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "image", "image": PNG}, {"type": "text", "text": "what?"}]}]
PARAMS = SamplingParams(max_tokens=64, temperature=0.6, top_p=0.9, n=4, seed=3, stop=("</answer>",),
                        extra=(("chat_template_kwargs", (("enable_thinking", True),)),))


def test_messages_and_params_survive_the_spool_with_the_same_key() -> None:
    messages, params = decode_messages(encode_messages(MESSAGES)), decode_params(json.dumps(PARAMS.as_dict()))
    assert messages == MESSAGES and params == PARAMS
    assert request_key("hf:m", messages, params) == request_key("hf:m", MESSAGES, PARAMS)


def test_a_round_spools_each_request_once_per_model(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.new_round()
    for _ in range(3):
        spool.add("hf:a", "hf:a", MESSAGES, PARAMS, "/j.sqlite")
    spool.add("hf:b", "hf:b", MESSAGES, PARAMS, "/j.sqlite")
    spool.flush()
    assert spool.count == 2 and spool.by_model == {"hf:a": 1, "hf:b": 1}
    rows = pq.read_table(spool.model_folder("hf:a")).to_pylist()
    assert len(rows) == 1 and rows[0]["key"] == request_key("hf:a", MESSAGES, PARAMS)
    assert rows[0]["journal"] == "/j.sqlite" and decode_messages(rows[0]["messages"]) == MESSAGES
    spool.new_round()  # a new round starts empty, on disk too
    assert spool.count == 0 and not any(spool.folder.iterdir())


def test_a_request_that_failed_too_often_fails_for_good(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", retries=1)
    spool.new_round()
    key = request_key("hf:a", MESSAGES, PARAMS)
    spool.failures[key] = (1, "inference_error", "bad row")
    spool.add("hf:a", "hf:a", MESSAGES, PARAMS, "/j")  # one retry left: deferred again
    assert spool.count == 1
    spool.failures[key] = (2, "inference_error", "bad row")
    spool.new_round()
    with pytest.raises(ModelError) as err:
        spool.add("hf:a", "hf:a", MESSAGES, PARAMS, "/j")
    assert err.value.reason == "inference_error" and "attempt 2" in err.value.detail and spool.count == 0


def test_deferring_is_not_a_failure_and_a_journaled_answer_is_not_deferred(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.new_round()
    journal_path = tmp_path / "journal.sqlite"

    async def go() -> tuple[int, int, int]:
        client = ModelClient(DeferredModel("builtin:smollm2", spool, str(journal_path)), Journal(journal_path))
        with pytest.raises(ModelError, match="deferred"):
            await client.complete(MESSAGES[:1], PARAMS)
        answered = SamplingParams(max_tokens=8)
        await client.journal.put(request_key("builtin:smollm2", MESSAGES[:1], answered), "builtin:smollm2",
                                 answered, [Completion("hi")])
        assert (await client.complete(MESSAGES[:1], answered))[0].text == "hi"
        counts = client.journal.counts()
        await client.aclose()
        return client.usage.deferred, client.usage.failed, counts["failed"]

    assert asyncio.run(go()) == (1, 0, 0)
    assert spool.count == 1


def test_deferred_models_are_in_job_models_with_a_journal(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(UserError, match="runs the model inside the job.*drop --ray-data-llm"):
        DeferredModel("openai:m@http://127.0.0.1:1/v1", spool, "j.sqlite")
    with pytest.raises(UserError, match="needs a request journal"):
        DeferredModel("builtin:smollm2", spool, None)
    context = RunContext(loader=deferring_loader(spool))
    client = LazyClient("builtin:smollm2", str(tmp_path / "j.sqlite"), context=context).get()
    assert isinstance(client.model, DeferredModel) and not client.model.accepts_images
    assert client.model_id == "builtin:smollm2"  # the key a direct run with the real model uses
