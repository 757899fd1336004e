"""Spec strings: every accepted form parses, every malformed one fails naming the spec."""

from __future__ import annotations

import sys
import types

import pytest

from finereason.models import OpenAIModel, SpecError, load_model, parse_spec


@pytest.mark.parametrize(
    ("spec", "model", "endpoints"),
    [
        ("openai:gpt-x@http://h:8000/v1", "gpt-x", ("http://h:8000/v1",)),
        (
            "openai:Qwen/Qwen3-VL-8B@h1:8000,h2:8001/",
            "Qwen/Qwen3-VL-8B",
            ("http://h1:8000/v1", "http://h2:8001/v1"),
        ),
        ("openai:m@https://api.example.com/v1/", "m", ("https://api.example.com/v1",)),
        (
            "openai://localhost:8000/v1/Qwen/Qwen3-VL-235B",
            "Qwen/Qwen3-VL-235B",
            ("http://localhost:8000/v1",),
        ),
        ("openai://gw:80/api/v1/m", "m", ("http://gw:80/api/v1",)),
    ],
)
def test_openai_forms(spec: str, model: str, endpoints: tuple[str, ...]) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.endpoints, parsed.raw) == ("openai", model, endpoints, spec)


def test_model_id_ignores_where_it_is_served() -> None:
    assert parse_spec("openai:m@h1:1").model_id == parse_spec("openai:m@h2:2,h3:3").model_id == "openai:m"


@pytest.mark.parametrize(
    ("spec", "kind", "model"),
    [
        ("hf:HuggingFaceTB/SmolVLM-256M", "hf", "HuggingFaceTB/SmolVLM-256M"),
        ("builtin:smollm2", "builtin", "smollm2"),
        ("builtin:ocr", "builtin", "ocr"),
        ("vllm:/models/qwen", "vllm", "/models/qwen"),
    ],
)
def test_other_kinds(spec: str, kind: str, model: str) -> None:
    parsed = parse_spec(spec)
    assert (parsed.kind, parsed.model, parsed.endpoints) == (kind, model, ())


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "gpt-4",
        "openai:gpt-4",
        "openai:@http://h",
        "openai:m@",
        "openai:m@ftp://h",
        "openai:m@h:1,h:1",
        "openai:m@http://h:99999",
        "openai://h:1/m",
        "openai://h:1/v1/",
        "torch:m",
        "hf:",
        "builtin:gpt5",
        "openai:m@http://h/v1?x=1",
    ],
)
def test_malformed_specs_name_the_spec(spec: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert repr(spec) in str(info.value)


def test_load_model_openai_is_built_in() -> None:
    model = load_model("openai:m@h1:1,h2:2", concurrency=3)
    assert isinstance(model, OpenAIModel)
    assert model.max_concurrency == 6 and model.endpoints == ["http://h1:1/v1", "http://h2:2/v1"]


@pytest.mark.parametrize(
    ("spec", "module"),
    [
        ("hf:x", "finereason.models.hf"),
        ("builtin:ocr", "finereason.models.builtin"),
        ("perceiver:a+b", "finereason.models.perceiver"),
        ("vllm:x", "finereason.models.vllm_engine"),
    ],
)
def test_load_model_dispatches_lazily(monkeypatch: pytest.MonkeyPatch, spec: str, module: str) -> None:
    calls = []
    fake = types.ModuleType(module)
    fake.load = lambda s, **opts: calls.append((s, opts)) or "model"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module, fake)
    assert load_model(spec, device="cpu") == "model"
    assert calls == [(spec, {"device": "cpu"})]
