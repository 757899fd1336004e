"""Thinking budget and word suppression: tokenizer-agnostic ids, graceful close, every backend path."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from finereason.cli import main
from finereason.evaluate.runner import EvalConfig, run_eval
from finereason.evaluate.thinking import (
    CLOSE_THINKING,
    NOWAIT_WORDS,
    Budget,
    SuppressionError,
    generate,
    parse_words,
    spellings,
    suppression_extra,
    suppression_from_server,
    suppression_from_tokenizer,
)
from finereason.models.client import ModelClient
from finereason.models.hf import append_prefill
from finereason.models.openai_http import OpenAIModel
from finereason.models.types import Completion, SamplingParams


def test_word_lists():
    assert parse_words("Wait, hmm ,wait") == ("wait", "hmm")
    assert parse_words("nowait") == NOWAIT_WORDS and parse_words(None) == ()
    assert set(spellings("wait")) == {"wait", " wait", "Wait", " Wait", "WAIT", " WAIT"}


def test_command_module_constants_match():
    from finereason.evaluate import commands, runner

    assert commands._MODULES == runner.MODULES
    assert commands._NOWAIT == ", ".join(NOWAIT_WORDS)


def test_suppression_ids_come_from_the_tokenizer():
    from finereason.testing.tinyvlm import build_tokenizer

    tok = build_tokenizer()
    sup = suppression_from_tokenizer(tok, ("answer", "chart"))
    assert sup.token_ids, "the tiny BPE has whole-word tokens for these corpus words"
    for i in sup.token_ids:
        assert tok.decode([i]).strip(" .,:").lower() in ("answer", "chart")
    assert not set(sup.token_ids) & set(tok.all_special_ids)
    for seq in sup.sequences:  # multi-token spellings, banned as sequences in-process
        assert len(seq) > 1 and tok.decode(list(seq)).strip().lower() in ("answer", "chart")


class FakeModel:
    """Records requests; the first reply is cut off mid-thought, the continuation answers."""

    spec = "fake:model"
    accepts_images = False

    def __init__(self, first: Completion) -> None:
        self.first = first
        self.requests: list[tuple[list, SamplingParams]] = []

    async def complete(self, messages, params):
        self.requests.append((messages, params))
        if len(self.requests) == 1:
            return [self.first]
        return [Completion("Answer: B", finish_reason="stop", prompt_tokens=30, completion_tokens=3)]

    async def aclose(self):
        pass


def test_budget_closes_the_think_block_and_continues():
    model = FakeModel(Completion("<think>\nfirst I look at", finish_reason="length", prompt_tokens=20,
                                 completion_tokens=8))
    client = ModelClient(model)
    params = SamplingParams(max_tokens=999, temperature=0.6)
    thought = asyncio.run(generate(client, [{"role": "user", "content": "q"}], params, budget=Budget(8, 16),
                                   suppress=(("suppress_tokens", (5,)),)))
    (m1, p1), (m2, p2) = model.requests
    assert p1.max_tokens == 8 and ("suppress_tokens", (5,)) in p1.extra
    assert p2.max_tokens == 16 and ("suppress_tokens", (5,)) not in p2.extra  # free after the budget
    assert m2[-1] == {"role": "assistant", "content": "<think>\nfirst I look at" + CLOSE_THINKING}
    assert thought.forced_close and thought.phase_tokens == (8, 3)
    assert thought.call.text == "<think>\nfirst I look at" + CLOSE_THINKING + "Answer: B"
    assert thought.call.completion_tokens == 11


def test_budget_leaves_a_finished_reply_alone():
    model = FakeModel(Completion("<think>x</think>Answer: A", finish_reason="stop", completion_tokens=5))
    thought = asyncio.run(generate(ModelClient(model), [{"role": "user", "content": "q"}], SamplingParams(),
                                   budget=Budget(8, 16)))
    assert len(model.requests) == 1 and not thought.forced_close and thought.call.text.endswith("Answer: A")


def test_prefill_is_appended_without_repeating_the_template_opening():
    assert append_prefill("<|im_start|>assistant\n<think>\n", "<think>\nabc") == "<|im_start|>assistant\n<think>\nabc"
    assert append_prefill("<|im_start|>assistant\n", "Answer:") == "<|im_start|>assistant\nAnswer:"


def test_hf_backend_suppresses_tokens_and_continues_a_prefill(tiny_models):
    from finereason.models.hf import load

    model = load(tiny_models["lm"])
    tok = model.tokenizer
    keep = tok.encode(" red", add_special_tokens=False)[0]
    everything_else = tuple(i for i in range(len(tok)) if i != keep)
    messages = [{"role": "user", "content": "What is shown?"}]
    only_red = SamplingParams(max_tokens=3, temperature=0, extra=(("suppress_tokens", everything_else),
                                                                   ("bad_words_ids", ((5, 6), (7, 8, 9)))))
    out = asyncio.run(model.complete(messages, only_red))[0]
    assert out.text == tok.decode([keep] * 3)  # every other token, EOS included, was masked
    cont = asyncio.run(model.complete([*messages, {"role": "assistant", "content": "The answer is"}],
                                      SamplingParams(max_tokens=3, temperature=0)))[0]
    assert 0 < cont.completion_tokens <= 3  # generated after the prefill, not a new turn


# ---------------------------------------------------------------------------------- OpenAI-compatible path
class _Handler(BaseHTTPRequestHandler):
    """A fake vLLM: chat completions (reasoning cut at a 5-token budget) and ``POST /tokenize``."""

    def log_message(self, *args):  # quiet
        pass

    def _json(self, status: int, obj) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        if self.path == "/tokenize":
            if not server.tokenize:
                return self._json(404, {"detail": "Not Found"})
            text = body["prompt"]
            word_id = server.vocab.setdefault(text, 1000 + len(server.vocab))
            ids = [1] + ([word_id] if len(text.strip()) <= 4 else [7, 8])  # BOS, then one or two ids
            return self._json(200, {"tokens": ids if text else [1], "count": len(ids)})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"detail": "Not Found"})
        server.requests.append(body)
        content = body["messages"][-1]["content"]
        text = json.dumps(content)
        if isinstance(content, list) and any(p["type"] == "image_url" for p in content):
            message, finish = {"content": "A red square on a white background."}, "stop"
        elif "Contents to observe" in text:
            message, finish = {"content": "the colours of the shapes"}, "stop"
        elif body["messages"][-1]["role"] == "assistant":
            message, finish = {"content": "Answer: A"}, "stop"
        else:
            message, finish = {"content": "", "reasoning_content": "The square is red, so"}, "length"
        return self._json(200, {"choices": [{"index": 0, "message": {"role": "assistant", **message},
                                             "finish_reason": finish}],
                                "usage": {"prompt_tokens": 12, "completion_tokens": 5}})


@pytest.fixture
def fake_vllm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests, server.tokenize, server.vocab = [], True, {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_server_token_ids_strip_bos_and_report_what_cannot_be_banned(fake_vllm):
    model = OpenAIModel(f"openai:m@http://127.0.0.1:{fake_vllm.server_address[1]}/v1")
    sup = asyncio.run(suppression_from_server(model, ("wait", "double-check")))
    assert len(sup.token_ids) == 6 and 1 not in sup.token_ids  # six spellings of "wait", BOS stripped
    assert set(sup.unbanned) == set(spellings("double-check"))
    assert suppression_extra(ModelClient(model), sup) == (("logit_bias", {str(i): -100 for i in sup.token_ids}),)
    fake_vllm.tokenize = False
    with pytest.raises(SuppressionError, match="no tokenize endpoint"):
        asyncio.run(suppression_from_server(model, ("wait",)))


def test_extract_think_over_an_openai_endpoint(fake_vllm, bench_files, tmp_path, capsys):
    url = f"http://127.0.0.1:{fake_vllm.server_address[1]}/v1"
    cfg = EvalConfig(benchmark="mmstar", data=bench_files["mmstar"], out=tmp_path / "et", mode="extract-think",
                     perception=f"openai:vlm@{url}", reasoning=f"openai:llm@{url}", think_budget=5,
                     answer_tokens=7, suppress_words=("wait", "hmm"), limit=2)
    summary = asyncio.run(run_eval(cfg))
    assert summary["counts"]["correct"] == 1 and summary["counts"]["incorrect"] == 1  # golds A and B, both say A
    assert summary["suppression"]["token_ids"] == 12
    reasoning = [r for r in fake_vllm.requests if r["model"] == "llm"]
    first = [r for r in reasoning if r["messages"][-1]["role"] == "user" and "Contents" not in json.dumps(r)]
    follow = [r for r in reasoning if r["messages"][-1]["role"] == "assistant"]
    assert len(first) == len(follow) == 2
    assert first[0]["max_tokens"] == 5 and len(first[0]["logit_bias"]) == 12
    assert first[0]["chat_template_kwargs"] == {"enable_thinking": True}
    assert follow[0]["max_tokens"] == 7 and follow[0]["continue_final_message"] is True
    assert follow[0]["add_generation_prompt"] is False and "logit_bias" not in follow[0]
    assert follow[0]["messages"][-1]["content"].endswith("</think>\n\n")
    line = json.loads((tmp_path / "et" / "items.jsonl").read_text().splitlines()[0])
    assert line["think_budget"] == {"forced_close": True, "phase_tokens": [5, 5]}
    assert line["instruction"] == {"contents": "the colours of the shapes", "source": "query"}
    assert "pay attention to the colours of the shapes." in line["perception"][0]["instruction"]
    assert line["prompt"].startswith("You are an excellent text-based reasoning expert")
    assert "A red square" in line["prompt"]

    fake_vllm.tokenize = False
    code = main(["eval", "--benchmark", "mmstar", "--data", str(bench_files["mmstar"]), "--out", str(tmp_path / "x"),
                 "--mode", "direct", "--model", f"openai:vlm@{url}", "--suppress-words", "wait", "--limit", "1"])
    assert code == 2 and "no tokenize endpoint" in capsys.readouterr().err
