"""Controlling a reasoner's thinking: a token budget that closes the think block gracefully, and
suppression of second-guessing words ("wait", "hmm", …) for any tokenizer.

Why not the released Extract+Think code: its budget forces a Qwen3-only ``</think>`` token id
(151668) inside a logits processor, and its "NoWait" list is ~180 hard-coded Qwen3 ids. Both
break on any other tokenizer and the first needs an in-process model. Here:

* **Budget**: generate at most ``think_tokens``; if the reply was cut off before ``</think>``,
  append a closing sentence and ``</think>`` as an assistant *prefill* and let the model continue
  for at most ``answer_tokens``. Works over every backend that can continue a final assistant
  message (in-process transformers; vLLM/SGLang via ``continue_final_message``), needs no token
  id, and both requests are journaled like any other.
* **Suppression**: the ids are computed at run time from the model's own tokenizer: every
  vocabulary entry that *is* one of the words (any case, leading space or punctuation around it,
  but not a longer word like "waiter"), plus the tokenisations of each spelling variant. Single
  ids are masked (transformers ``suppress_tokens``; OpenAI-style ``logit_bias`` −100); a spelling
  that needs several tokens is banned as a sequence in-process (``bad_words_ids``). A server's
  ids come from its ``/tokenize`` endpoint; a server without one is a clear error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from finereason.errors import UserError
from finereason.evaluate.calls import Call, call
from finereason.models.client import ModelClient
from finereason.models.openai_http import API_KEY_ENV_VARS, OpenAIModel
from finereason.models.types import Message, SamplingParams

if TYPE_CHECKING:
    import httpx

#: The closing a budgeted think block gets (the phrase Qwen3's model card suggests for budgets).
CLOSE_THINKING = (
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking directly now.\n"
    "</think>\n\n"
)
#: The Downscaling paper's NoWait words (lmms_eval_custom_files/qwen3.py), for ``--suppress-words nowait``.
NOWAIT_WORDS = (
    "wait", "alternatively", "hmm", "but", "however", "alternative", "another", "check", "double-check",
    "oh", "maybe", "verify", "other", "again", "now", "ah", "anyway", "anyhow",
)


class SuppressionError(UserError, RuntimeError):
    """Word suppression was asked for but the backend cannot provide token ids."""


@dataclass(frozen=True)
class Budget:
    """Thinking budget: ``think_tokens`` for the first request, ``answer_tokens`` for the continuation."""

    think_tokens: int
    answer_tokens: int


@dataclass(frozen=True)
class Suppression:
    """Token ids that spell the suppressed words, for one tokenizer.

    ``token_ids`` are masked at every step; ``sequences`` are multi-token spellings (banned as
    sequences where the backend can); ``unbanned`` lists spellings that could not be banned at all.
    """

    words: tuple[str, ...]
    token_ids: tuple[int, ...]
    sequences: tuple[tuple[int, ...], ...] = ()
    unbanned: tuple[str, ...] = ()

    def report(self) -> dict[str, Any]:
        return {"words": list(self.words), "token_ids": len(self.token_ids), "sequences": len(self.sequences),
                "unbanned_spellings": list(self.unbanned)}


def parse_words(text: str | None) -> tuple[str, ...]:
    """``"wait,hmm"`` → ``("wait", "hmm")``; ``"nowait"`` → the paper's list."""
    if not text:
        return ()
    words: list[str] = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "nowait":
            words.extend(NOWAIT_WORDS)
        elif part:
            words.append(part)
    return tuple(dict.fromkeys(words))


def spellings(word: str) -> list[str]:
    """Case and leading-space variants a tokenizer may see: wait, Wait, WAIT, " wait", …"""
    cases = dict.fromkeys((word.lower(), word.capitalize(), word.upper()))
    return [prefix + case for case in cases for prefix in ("", " ")]


_EDGE_RE = re.compile(r"^[\W_]+|[\W_]+$")


def _word_of(token_text: str) -> str:
    return _EDGE_RE.sub("", token_text.strip()).lower()


def suppression_from_tokenizer(tokenizer: Any, words: tuple[str, ...]) -> Suppression:
    """Ids of every vocabulary entry that is one of ``words``, and multi-token spellings of each."""
    wanted = {w.lower() for w in words}
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    size = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(size)])
    ids = {i for i, text in enumerate(texts) if i not in special and _word_of(text) in wanted}
    sequences = set()
    for word in words:
        for variant in spellings(word):
            encoded = tuple(tokenizer.encode(variant, add_special_tokens=False))
            if len(encoded) == 1:
                ids.add(encoded[0])
            elif encoded:
                sequences.add(encoded)
    return Suppression(words, tuple(sorted(ids - special)), tuple(sorted(sequences)))


async def suppression_from_server(model: OpenAIModel, words: tuple[str, ...]) -> Suppression:
    """Ids from an OpenAI-compatible server's tokenizer; only single-token spellings can be masked
    through ``logit_bias``, the rest are reported as ``unbanned``."""
    import httpx

    ids, unbanned = set(), []
    async with httpx.AsyncClient(timeout=30.0) as http:
        tokenize = await _find_tokenizer(http, model)
        prefix = await tokenize("")  # a BOS some servers add to every tokenisation
        for word in words:
            for variant in spellings(word):
                encoded = await tokenize(variant)
                if encoded[: len(prefix)] == prefix:
                    encoded = encoded[len(prefix):]
                if len(encoded) == 1:
                    ids.add(encoded[0])
                elif encoded:
                    unbanned.append(variant)
    return Suppression(words, tuple(sorted(ids)), (), tuple(unbanned))


async def _find_tokenizer(http: httpx.AsyncClient, model: OpenAIModel) -> Callable[[str], Awaitable[list[int]]]:
    """The first tokenize route the server answers, as ``text -> ids``."""
    import httpx

    base = model.endpoints[0]
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    key = next((os.environ[v] for v in API_KEY_ENV_VARS if os.environ.get(v)), "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    # vLLM and SGLang: POST /tokenize {model, prompt}; llama-cpp-python: POST /extras/tokenize {input}.
    routes = [(f"{root}/tokenize", "prompt"), (f"{base}/tokenize", "prompt"), (f"{root}/extras/tokenize", "input")]
    tried = []
    for url, field in routes:
        body = {"model": model.model, field: "Wait", "add_special_tokens": False}
        try:
            reply = await http.post(url, json=body, headers=headers)
        except httpx.HTTPError as err:
            tried.append(f"{url}: {err}")
            continue
        try:
            tokens = reply.json().get("tokens") if reply.status_code == 200 else None
        except (ValueError, AttributeError):  # not JSON, or not an object
            tokens = None
        if isinstance(tokens, list):

            async def tokenize(text: str, url: str = url, field: str = field) -> list[int]:
                response = await http.post(
                    url, json={"model": model.model, field: text, "add_special_tokens": False}, headers=headers
                )
                response.raise_for_status()
                return [int(t) for t in response.json()["tokens"]]

            return tokenize
        tried.append(f"{url}: HTTP {reply.status_code}")
    raise SuppressionError(
        f"{model.spec}: --suppress-words needs the server's token ids, but it has no tokenize endpoint "
        f"(vLLM and SGLang serve POST /tokenize, llama-cpp-python POST /extras/tokenize); tried {'; '.join(tried)}"
    )


async def suppression_for(client: ModelClient, words: tuple[str, ...]) -> Suppression:
    """The suppression for whatever backend ``client`` wraps; :class:`SuppressionError` if none is possible."""
    model = client.model
    if isinstance(model, OpenAIModel):
        return await suppression_from_server(model, words)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise SuppressionError(f"{model.spec}: this backend exposes no tokenizer, so words cannot be suppressed")
    return suppression_from_tokenizer(tokenizer, words)


def suppression_extra(client: ModelClient, suppression: Suppression) -> tuple[tuple[str, Any], ...]:
    """``SamplingParams.extra`` entries that apply ``suppression`` on this backend."""
    if isinstance(client.model, OpenAIModel):
        if not suppression.token_ids:
            return ()
        return (("logit_bias", {str(i): -100 for i in suppression.token_ids}),)
    extra: list[tuple[str, Any]] = []
    if suppression.token_ids:
        extra.append(("suppress_tokens", suppression.token_ids))
    if suppression.sequences:
        extra.append(("bad_words_ids", suppression.sequences))
    return tuple(extra)


def thinking_extra(client: ModelClient, think: bool) -> tuple[tuple[str, Any], ...]:
    """Chat-template switch for thinking models (Qwen3 ``enable_thinking``).

    In-process it is always set (templates ignore unknown variables); to a server it is sent only
    to turn thinking on, since hosted APIs reject unknown fields.
    """
    if isinstance(client.model, OpenAIModel):
        return (("chat_template_kwargs", {"enable_thinking": True}),) if think else ()
    return (("chat_template_kwargs", (("enable_thinking", think),)),)


def _continue_extra(client: ModelClient) -> tuple[tuple[str, Any], ...]:
    """Server fields that make the final assistant message a prefill (in-process this is automatic)."""
    if isinstance(client.model, OpenAIModel):
        return (("continue_final_message", True), ("add_generation_prompt", False))
    return ()


@dataclass
class Thought:
    """A generation under a budget: the combined call, and whether the think block had to be closed."""

    call: Call
    forced_close: bool = False
    phase_tokens: tuple[int, ...] = ()


async def generate(
    client: ModelClient,
    messages: list[Message],
    params: SamplingParams,
    *,
    budget: Budget | None = None,
    suppress: tuple[tuple[str, Any], ...] = (),
) -> Thought:
    """Generate with optional suppression and thinking budget.

    Suppression applies while thinking; the continuation after a forced ``</think>`` is free, as in
    the paper's vLLM path ("until the thinking budget is reached").
    """
    first_params = replace(params, extra=params.extra + suppress)
    if budget is not None:
        first_params = replace(first_params, max_tokens=budget.think_tokens)
    first = await call(client, messages, first_params)
    if budget is None or first.error is not None or not first.truncated:
        return Thought(first, phase_tokens=(first.completion_tokens,))
    text = first.text or ""
    closed = "</think>" in text
    prefix = text if closed else text.rstrip() + CLOSE_THINKING
    follow = await call(
        client,
        [*messages, {"role": "assistant", "content": prefix}],
        replace(params, max_tokens=budget.answer_tokens, extra=params.extra + _continue_extra(client)),
    )
    combined = Call(
        None if follow.error else prefix + (follow.text or ""),
        follow.finish_reason,
        first.prompt_tokens,
        first.completion_tokens + follow.completion_tokens,
        first.latency_s + follow.latency_s,
        first.cached and follow.cached,
        follow.error,
    )
    return Thought(combined, forced_close=not closed, phase_tokens=(first.completion_tokens, follow.completion_tokens))
