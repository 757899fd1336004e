"""LLM cleaning: strict verdict parsing and the stage's outcomes, with a fake async model.

These are unit tests of parsing and bookkeeping; ``test_real_model_smoke`` runs the real
journaled client with the bundled SmolLM2 to check the plumbing (a 135M model cannot do the
task, so it only asserts that every reply ends in a defined outcome).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from clean_corpus import make_sample

from finereason.clean.llm import DEFAULT_PARAMS, LLMClean, RulesThenLLM, Verdict, VerdictError, parse_verdict
from finereason.clean.stage import CleanStage
from finereason.io.store import Dataset
from finereason.models.types import Completion, ModelError, SamplingParams
from finereason.pipeline.engine import run_async_stage
from finereason.pipeline.manifest import RunInfo
from finereason.pipeline.stage import AsyncStage, Task
from finereason.prompts import load_prompt

# ---- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("No Problem", Verdict((), "")),
        ("  **No problem.**  ", Verdict((), "")),
        ('{"error_type": [], "corrected_text": ""}', Verdict((), "")),
        # JSON-looking text inside the reasoning is never the verdict.
        ('<think>maybe {"error_type": ["translation"], "corrected_text": "x"}?</think>\nNo Problem',
         Verdict((), "")),
        # Braces in LaTeX inside the object's string, and before it: the balanced object is found.
        ('<think>f(x)=\\frac{1}{2}</think>Result: {"error_type": ["translation"], '
         '"corrected_text": "Find \\\\frac{1}{2} of $\\\\{a, b\\\\}$."} done',
         Verdict(("translation",), "Find \\frac{1}{2} of $\\{a, b\\}$.")),
        # A model that forgets to escape LaTeX: \frac would be a form feed, \sqrt invalid JSON.
        ('{"error_type": ["irrelevant content"], "corrected_text": "Compute \\frac{1}{4} + \\sqrt{2}, '
         '\\theta \\neq \\beta\\nNext line"}',
         Verdict(("irrelevant content",), "Compute \\frac{1}{4} + \\sqrt{2}, \\theta \\neq \\beta\nNext line")),
        ('```json\n{"error_type": "low-quality instruction", "corrected_text": "Reason, then answer."}\n```',
         Verdict(("low-quality instruction",), "Reason, then answer.")),
        ('{"error_type": ["Low_Quality Instruction", "translation"], "corrected_text": "Q"}',
         Verdict(("low-quality instruction", "translation"), "Q")),
        ('{"error_type": ["non-answer question"], "corrected_text": ""}', Verdict(("non-answer question",), "")),
        ('First {"error_type": ["translation"], "corrected_text": "A"} then, corrected: '
         '{"error_type": ["translation"], "corrected_text": "B"}', Verdict(("translation",), "B")),
        ('{"error_type": ["translation"],\n "corrected_text": "line one\nline two"}',
         Verdict(("translation",), "line one\nline two")),  # raw newline inside a string
        ("</think>No Problem", Verdict((), "")),  # a template that pre-fills <think>
    ],
)
def test_parse_verdict(reply: str, verdict: Verdict) -> None:
    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("<think>still thinking about {x}", "unclosed_think"),
        ("The question looks fine to me.", "no_verdict"),
        ("No Problem, but also the URL should go.", "no_verdict"),
        ('{"error_type": ["translation"], "corrected_text": "unterminated', "no_verdict"),
        ('{"errors": ["translation"]}', "no_verdict"),
        ('{"error_type": ["spelling"], "corrected_text": "x"}', "unknown_error_type"),
        ('{"error_type": {"translation": true}, "corrected_text": "x"}', "bad_error_type"),
        ('{"error_type": ["translation"], "corrected_text": ""}', "missing_corrected_text"),
        ('{"error_type": ["translation"], "corrected_text": 5}', "bad_corrected_text"),
        # A greedy {.*} regex would grab from the think brace to the last brace and fail or lie.
        ('<think>{"error_type": ["translation"], "corrected_text": "hidden"}</think>Looks {fine}', "no_verdict"),
    ],
)
def test_parse_verdict_refuses(reply: str, reason: str) -> None:
    with pytest.raises(VerdictError) as err:
        parse_verdict(reply)
    assert err.value.reason == reason


# ---- the stage with a fake model ---------------------------------------------------------------


class FakeModel:
    """Answers by a marker word in the question; records what it was sent."""

    spec = "fake:cleaner"

    def __init__(self, replies: dict[str, str | Exception | Completion]) -> None:
        self.replies = replies
        self.calls: list[tuple[list[dict], SamplingParams]] = []

    async def complete(self, messages: list[dict], params: SamplingParams) -> list[Completion]:
        self.calls.append((messages, params))
        await asyncio.sleep(0)
        content = messages[0]["content"]
        for marker, reply in self.replies.items():
            if marker in content:
                if isinstance(reply, Exception):
                    raise reply
                return [reply if isinstance(reply, Completion) else Completion(text=reply)]
        return [Completion(text="<think>ok</think>No Problem")]

    async def aclose(self) -> None:
        pass


TEMPLATE = 'Clean this. Reply "No Problem" or {"error_type": [], "corrected_text": ""}.\n\n{question}'


def run(stage: LLMClean, samples: list) -> tuple[dict, dict, Counter]:
    res = asyncio.run(stage.run(samples))
    kept = {s.id: s for s in res.kept}
    rejected = {r.sample.id: r for r in res.rejected}
    return kept, rejected, Counter({**res.stats, "failed": res.failed})


def test_outcomes() -> None:
    model = FakeModel({
        "TRANSLATE": '{"error_type": ["translation"], "corrected_text": "<image>What is the area? A．three B．four"}',
        "DRAW": '<think>asks to draw</think>{"error_type": ["non-answer question"], "corrected_text": ""}',
        "GARBLE": "I cannot decide {",
        "LONG": Completion(text='{"error_type": ["translation"], "corrected_text": "cut', finish_reason="length"),
        "BAD_REQUEST": ModelError("http_400", "context too long", retryable=False),
        "SHALLOW": '{"error_type": ["low-quality instruction", "irrelevant content"], '
                   '"corrected_text": "Find x. Reason step by step before giving the final answer."}',
    })
    samples = {
        "fine": make_sample("What is 2+2?", "4"),
        "translate": make_sample("TRANSLATE 面积是多少？A．三 B．四", "B", options=["三", "四"]),
        "draw": make_sample("DRAW a square.", "none"),
        "garble": make_sample("GARBLE me", "1"),
        "long": make_sample("LONG one", "1"),
        "bad": make_sample("BAD_REQUEST", "1"),
        "shallow": make_sample("SHALLOW: Find x. Answer with a single word.", "3"),
    }
    kept, rejected, counts = run(LLMClean(model, TEMPLATE), list(samples.values()))
    s = samples

    assert kept[s["fine"].id] is s["fine"]  # no problem: untouched

    t = kept[s["translate"].id]
    assert t.question == "What is the area? A．three B．four"  # rule-cleaned again: <image> gone
    assert t.options == ["three", "four"]  # options parsed from the old text follow the new one
    assert t.flags == ["llm_translation"] and t.meta_get("original_question") == s["translate"].question

    assert set(rejected) == {s["draw"].id}
    assert rejected[s["draw"].id].reason == "non_answerable" and rejected[s["draw"].id].sample is s["draw"]

    for key, why in [("garble", "no_verdict"), ("long", "truncated")]:
        out = kept[s[key].id]
        assert out.question == s[key].question and out.flags == ["llm_clean_unparsed"]
        assert why in out.meta_get("llm_clean_error")
    assert kept[s["bad"].id].flags == ["llm_clean_failed"]
    assert "http_400" in kept[s["bad"].id].meta_get("llm_clean_error")

    sh = kept[s["shallow"].id]
    assert sh.question.endswith("Reason step by step before giving the final answer.")
    assert sh.flags == ["llm_low_quality_instruction", "llm_irrelevant_content"]

    assert counts == Counter({
        "llm_clean_requests": 7, "llm_clean_no_problem": 1, "llm_clean_changed": 2, "llm_translation": 1,
        "llm_clean_non_answerable": 1, "llm_clean_unparsed": 2, "llm_clean_truncated": 1,
        "failed": 1, "llm_low_quality_instruction": 1, "llm_irrelevant_content": 1,
    })
    # The input samples themselves were not mutated.
    assert s["translate"].flags == [] and s["translate"].options == ["三", "四"]


def test_failed_request_keeps_the_sample_and_counts_for_the_engine() -> None:
    """Counted under ``failed``, the engine's key for "redo this shard on rerun"."""
    model = FakeModel({"FLAKY": ModelError("http_503", "overloaded after retries", retryable=True)})
    sample = make_sample("FLAKY one", "1")
    kept, rejected, counts = run(LLMClean(model, TEMPLATE), [sample])
    assert not rejected and kept[sample.id].question == "FLAKY one"
    assert kept[sample.id].flags == ["llm_clean_failed"] and counts["failed"] == 1


def test_prompt_forms_and_params() -> None:
    sample = make_sample("Find $\\{x \\mid x>0\\}$.", "1")
    real = load_prompt("clean", expect=["question"])
    for prompt in (real, TEMPLATE, lambda q: f"Q: {q}"):
        model = FakeModel({})
        stage = LLMClean(model, prompt)
        run(stage, [sample])
        (messages, params), = model.calls
        assert messages == [{"role": "user", "content": messages[0]["content"]}]
        assert sample.question in messages[0]["content"]  # braces in the question survive rendering
        assert params == DEFAULT_PARAMS
    assert LLMClean(FakeModel({}), real).settings()["prompt"] == real.ref
    with pytest.raises(ValueError, match="placeholder"):
        LLMClean(FakeModel({}), "no placeholder here")


def test_rules_then_llm_through_the_async_engine(tmp_path: Path) -> None:
    model = FakeModel({"DRAW": '{"error_type": ["non-answer question"], "corrected_text": ""}'})
    combined = RulesThenLLM(CleanStage(), LLMClean(model, TEMPLATE, model_id="fake:cleaner"))
    assert isinstance(combined, AsyncStage)
    shard = [make_sample("<image>1. What is 2+2?", "$4$"), make_sample("DRAW a cube.", "x"),
             make_sample("No answer here", None)]
    info = RunInfo(combined.name, combined.version, combined.settings(), ["mem"])
    manifest = asyncio.run(run_async_stage(combined, [Task(0, lambda: shard)], tmp_path / "out", info, total=1))
    assert manifest["stage"] == "clean" and manifest["version"] == "1+llm1"
    assert manifest["rejected"] == {"missing_answer": 1, "non_answerable": 1}
    assert manifest["settings"]["llm"]["model"] == "fake:cleaner" and manifest["settings"]["max_side"] == 2048
    assert manifest["stats"]["llm_clean_requests"] == 2  # the rule-rejected sample costs no request
    (kept,) = list(Dataset(tmp_path / "out").iter_samples())
    assert (kept.question, kept.answer) == ("What is 2+2?", "4")


@pytest.fixture
def no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The backend is faked, so there is no endpoint at h:8000 for the start-up check to ask."""
    import finereason.models.health

    async def nothing_to_probe(spec: str) -> list[str]:
        return []

    monkeypatch.setattr(finereason.models.health, "preflight", nothing_to_probe)


def test_cli_llm_flag_with_a_fake_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, no_probe) -> None:
    """The real command and engine with a fake backend: journal, failure, and the rerun that fixes it."""
    from test_stage import write_dataset

    import finereason.models.session
    from finereason.cli import main

    class Flaky(FakeModel):
        """Fails the FLAKY question once, then answers it."""

        failed_once = False

        async def complete(self, messages: list[dict], params: SamplingParams) -> list[Completion]:
            if "FLAKY" in messages[0]["content"] and not self.failed_once:
                self.failed_once = True
                raise ModelError("http_400", "bad request", retryable=False)
            return await super().complete(messages, params)

    model = Flaky({"DRAW": '{"error_type": ["non-answer question"], "corrected_text": ""}',
                   "FLAKY": '{"error_type": ["irrelevant content"], "corrected_text": "Find z."}'})
    monkeypatch.setattr(finereason.models.session, "load_model", lambda spec: model)
    write_dataset(tmp_path / "raw", [[make_sample("DRAW it", "1"), make_sample("Find y.", "2"),
                                      make_sample("FLAKY Find z. (ad)", "3")]])
    out = tmp_path / "out"
    args = ["clean", str(tmp_path / "raw"), "--out", str(out), "--llm", "openai://h:8000/v1/m"]
    assert main(args) == 0
    assert "1 model requests failed" in capsys.readouterr().err
    m = json.loads((out / "manifest.json").read_text())
    assert m["rejected"] == {"non_answerable": 1} and m["stats"]["failed"] == 1
    assert m["models"] == {"clean": "openai://h:8000/v1/m"}
    assert m["settings"]["llm"]["model"] == "openai:m"  # endpoints left out: a move keeps the resume
    assert (out / "journal.sqlite").exists()
    flagged = {s.question: s.flags for s in Dataset(out).iter_samples()}
    assert flagged["FLAKY Find z. (ad)"] == ["llm_clean_failed"]
    calls = len(model.calls)

    # The rerun redoes the shard with the failure; the journal answers the two that succeeded.
    assert main(args) == 0
    assert len(model.calls) == calls + 1
    m = json.loads((out / "manifest.json").read_text())
    assert m["stats"].get("failed", 0) == 0 and m["records_out"] == 2
    flagged = {s.question: s.flags for s in Dataset(out).iter_samples()}
    assert flagged == {"Find y.": [], "Find z.": ["llm_irrelevant_content"]}

    assert main(["clean", str(tmp_path / "raw"), "--out", str(tmp_path / "o2"), "--llm", "nonsense"]) == 2
    assert "model spec 'nonsense'" in capsys.readouterr().err


@pytest.mark.slow
def test_real_model_smoke(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from finereason.models import Journal, ModelClient, load_model

    try:
        model = load_model("builtin:smollm2")
    except Exception as e:  # noqa: BLE001 - the wheel or weights may be absent on this machine
        pytest.skip(f"builtin:smollm2 unavailable: {e}")
    client = ModelClient(model, Journal(tmp_path / "j.sqlite"))
    stage = LLMClean(client, load_prompt("clean"), SamplingParams(max_tokens=24, temperature=0.0, top_p=1.0))
    samples = [make_sample("求三角形的面积。", "6")]

    async def go() -> tuple:
        try:
            return await stage.run(samples)
        finally:
            await client.aclose()

    res = asyncio.run(go())
    assert len(res.kept) + len(res.rejected) == 1 and res.stats["llm_clean_requests"] == 1
    outcomes = ("llm_clean_no_problem", "llm_clean_changed", "llm_clean_same_text", "llm_clean_unparsed",
                "llm_clean_non_answerable", "llm_clean_failed")
    assert sum({**res.stats, "failed": res.failed}.get(k, 0) for k in outcomes) == 1


# ---- the optional LLM answer-extraction pass (--llm-answers) ----------------------------------

SOLUTION = ("First we note the base is 4 and the height is 6.\nThen we multiply and halve to get the area of "
            "the triangle, which gives twelve square units in total after simplification of all the terms.")


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("<think>the last line says twelve</think><answer>12</answer>", "12"),
        ("<answer> 3, 5 </answer>", "3, 5"),
        ("<answer></answer>", None),  # the solution states no final answer
    ],
)
def test_parse_extraction(reply: str, answer: str | None) -> None:
    from finereason.clean.llm_answers import parse_extraction

    assert parse_extraction(reply) == answer


@pytest.mark.parametrize("reply", ["12", "<think><answer>12</answer>", "<answer>1</answer> or <answer>2</answer>"])
def test_parse_extraction_refuses(reply: str) -> None:
    from finereason.clean.llm_answers import ExtractionError, parse_extraction

    with pytest.raises(ExtractionError):
        parse_extraction(reply)


def test_cli_llm_answers_rescues_only_unextracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_probe) -> None:
    """The real command with the bundled answer_extraction prompt and a scripted backend: a
    solution the rules cannot read gets the model's answer (then standardised by the rules), one
    the model finds no answer in stays rejected with both reasons, and the prompt is in the manifest."""
    from test_stage import write_dataset

    import finereason.models.session
    from finereason.cli import main
    from finereason.prompts import load_prompt

    model = FakeModel({"TRIANGLE": "<think>twelve</think><answer>12 square units</answer>",
                       "SQUARE": "<answer></answer>"})
    monkeypatch.setattr(finereason.models.session, "load_model", lambda spec: model)
    write_dataset(tmp_path / "raw", [[make_sample("TRIANGLE area?", SOLUTION), make_sample("SQUARE side?", SOLUTION),
                                      make_sample("Find y.", "2")]])
    out = tmp_path / "out"
    assert main(["clean", str(tmp_path / "raw"), "--out", str(out), "--llm", "openai://h:8000/v1/m",
                 "--llm-answers"]) == 0
    extraction = [m for m, _ in model.calls if "Reference solution:" in m[0]["content"]]
    assert len(extraction) == 2 and SOLUTION in extraction[0][0]["content"]
    kept = {s.question: s for s in Dataset(out).iter_samples()}
    assert kept["TRIANGLE area?"].answer == "12"  # "12 square units" standardised: units dropped
    assert kept["TRIANGLE area?"].meta_get("answer_from") == "llm"
    assert kept["TRIANGLE area?"].meta_get("original_answer") == SOLUTION
    m = json.loads((out / "manifest.json").read_text())
    assert m["rejected"] == {"answer_unextracted": 1}
    assert m["prompts"]["answer_extraction"] == load_prompt("answer_extraction").ref
    rej = Dataset(out).rejected_table().to_pylist()
    assert "the model found no final answer" in rej[0]["reject_detail"]
    assert m["stats"]["llm_answer_extracted"] == 1 and m["stats"]["llm_answer_none"] == 1


def test_cli_llm_answers_needs_llm(tmp_path: Path, capsys) -> None:
    from test_stage import write_dataset

    from finereason.cli import main

    write_dataset(tmp_path / "raw", [[make_sample("Find y.", "2")]])
    assert main(["clean", str(tmp_path / "raw"), "--out", str(tmp_path / "o"), "--llm-answers"]) == 2
    assert "--llm-answers needs --llm" in capsys.readouterr().err
