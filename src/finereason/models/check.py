"""``finereason models check SPEC``: does the model answer, and what is actually being served?

Run before a multi-day distillation so a wrong port, a missing ``--served-model-name`` or a
dead node among several is found in seconds rather than after the first shard fails.
"""

from __future__ import annotations

import time
from typing import Any

from .openai_http import OpenAIModel, Timeouts
from .backends import load_model
from .spec import parse_spec
from .types import Model, ModelError, SamplingParams

_PING = [{"role": "user", "content": "Reply with OK."}]
_ONE_TOKEN = SamplingParams(max_tokens=1, temperature=0.0, top_p=1.0)


async def _ping(model: Model) -> dict[str, Any]:
    start = time.monotonic()
    try:
        completions = await model.complete(_PING, _ONE_TOKEN)
    except ModelError as exc:
        return {"chat_ok": False, "error": str(exc)}
    return {
        "chat_ok": True,
        "latency_s": round(time.monotonic() - start, 3),
        "reply": completions[0].text if completions else "",
    }


async def _check_endpoint(spec: str, url: str, timeout: float) -> dict[str, Any]:
    single = OpenAIModel(
        f"openai:{parse_spec(spec).model}@{url}", concurrency=1, timeouts=Timeouts(timeout, timeout)
    )
    report: dict[str, Any] = {"url": url}
    try:
        try:
            served = await single.list_models()
        except ModelError as exc:
            return {**report, "ok": False, "models": None, "chat_ok": False, "error": f"GET /models: {exc}"}
        report["models"] = served
        report["serves_model"] = single.model in served
        report.update(await _ping(single))
        report["ok"] = report["chat_ok"]
        if report["ok"] and not report["serves_model"]:
            report["warning"] = (
                f"{single.model!r} not in /models; the server answered anyway (it may ignore 'model')"
            )
        return report
    finally:
        await single.aclose()


async def check(spec: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """Probe every endpoint of an ``openai:`` spec (GET /models, then a 1-token chat), or load and ping another backend.

    Returns ``{"spec", "kind", "model", "ok", "endpoints": [{"url", "ok", "models", "serves_model",
    "chat_ok", "latency_s", "error"?}]}``; ``ok`` is True only if every endpoint answered. Never raises
    for an unreachable server: reporting that is the point.
    """
    parsed = parse_spec(spec)
    result: dict[str, Any] = {"spec": spec, "kind": parsed.kind, "model": parsed.model}
    if parsed.kind == "openai":
        endpoints = [await _check_endpoint(spec, url, timeout) for url in parsed.endpoints]
        return {**result, "ok": all(e["ok"] for e in endpoints), "endpoints": endpoints}
    model = load_model(spec)
    try:
        ping = await _ping(model)
    finally:
        await model.aclose()
    return {**result, "ok": ping["chat_ok"], "accepts_images": model.accepts_images, **ping}
