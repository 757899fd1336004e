"""Visual extraction tuning data: grouping, the three teacher steps, resume, and training on the result."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

import finereason.models
from finereason.cli import main
from finereason.io.images import make_image
from finereason.io.store import Dataset
from finereason.models.types import Completion
from finereason.schema import Sample
from finereason.train.config import load_config
from finereason.train.sft import run_sft
from finereason.train.vet import VetSettings, VetStage, join_contents, parse_contents, parse_statements, plan_groups
from train_helpers import export, png, recipe, write_dataset


class ScriptedTeacher:
    """A stand-in VLM whose replies follow from the prompt, so every step's output can be checked."""

    accepts_images = True

    def __init__(self, spec: str = "hf:scripted", crash_after: int | None = None) -> None:
        self.spec = spec
        self.calls = 0
        self.crash_after = crash_after

    async def complete(self, messages, params):
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            raise RuntimeError("killed")
        content = messages[-1]["content"]
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        has_image = not isinstance(content, str) and any(p["type"] == "image" for p in content)
        if "Rewrite each question-answer pair" in text:
            answers = re.findall(r"^Answer: (.*)$", text, re.MULTILINE)
            reply = "\n".join(f"{i}. Fact {i}: {a}" for i, a in enumerate(answers, 1))
        elif "Contents to observe:" in text:
            question = text.rsplit("Question: ", 1)[1].split("\n")[0]
            reply = f"Contents to observe: the {question.rstrip('?').split()[-1]}."
        elif has_image:
            facts = text.split("following information, stated naturally as part of the description:\n")[1]
            reply = "<think>look first</think>A picture. " + " ".join(facts.split("\n\nDescription:")[0].splitlines())
        else:
            reply = "?"
        return [Completion(text=reply, completion_tokens=len(reply.split()))]

    async def aclose(self) -> None:
        pass


def _llava(tmp_path: Path) -> Path:
    (tmp_path / "a.png").write_bytes(png("red"))
    (tmp_path / "b.png").write_bytes(png("blue", (64, 64)))
    records = [
        {"id": "c1", "image": "a.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the box?"}, {"from": "gpt", "value": "Red."},
            {"from": "human", "value": "Where is the square?"}, {"from": "gpt", "value": "Top left."}]},
        {"id": "c2", "image": "b.png", "conversations": [
            {"from": "human", "value": "<image>\nHow many squares?"}, {"from": "gpt", "value": "One."}]},
        {"id": "c3", "conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]},
    ]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(records))
    out = tmp_path / "raw"
    assert main(["ingest", str(path), "--format", "llava", "--out", str(out), "--workers", "1"]) == 0
    return out


@pytest.fixture
def llava(tmp_path) -> Path:
    return _llava(tmp_path)


def _build(monkeypatch, src: Path, out: Path, teacher: ScriptedTeacher, *extra: str) -> int:
    monkeypatch.setattr(finereason.models, "load_model", lambda spec, **kw: teacher)
    return main(["vet", "build", str(src), "--teacher", teacher.spec, "--out", str(out), *extra])


def test_conversations_are_grouped_and_imageless_pairs_rejected(llava):
    plan = plan_groups(Dataset(llava).shard_paths())
    assert sorted(len(m) for m in plan.members.values()) == [1, 2]
    assert sum(len(rows) for rows in plan.no_image.values()) == 1


def test_samples_sharing_an_image_form_one_conversation(tmp_path):
    image = make_image(png("green"))
    samples = [Sample(id=f"s{i}", source="qa", question=q, answer=a, images=[image])
               for i, (q, a) in enumerate([("Colour?", "Green."), ("Shape?", "Square.")])]
    samples.append(Sample(id="s9", source="qa", question="Other?", answer="Yes.", images=[make_image(png("red"))]))
    plan = plan_groups(Dataset(write_dataset(tmp_path / "qa", samples)).shard_paths())
    assert sorted(len(m) for m in plan.members.values()) == [1, 2]


def test_vet_build_writes_instruction_description_records(llava, tmp_path, monkeypatch, capsys):
    teacher = ScriptedTeacher()
    assert _build(monkeypatch, llava, tmp_path / "vet", teacher) == 0
    out = Dataset(tmp_path / "vet")
    records = {r.meta_get("conversation_id"): r for r in out.iter_samples()}
    assert set(records) == {'conv:"c1"', 'conv:"c2"'}
    c1 = records['conv:"c1"']
    assert c1.question.startswith("Describe the fine-grained content of the image")
    assert c1.question.endswith("Especially, pay attention to the box; the square.")
    assert "Red" not in c1.question and "Top left" not in c1.question  # the instruction never leaks an answer
    assert c1.response == "A picture. Fact 1: Red. Fact 2: Top left."  # the think block is not the target
    assert c1.meta_get("statements") == ["Fact 1: Red.", "Fact 2: Top left."]
    assert c1.meta_get("questions") == ["What colour is the box?", "Where is the square?"]
    assert len(c1.images) == 1 and c1.images[0].sha256 == records['conv:"c1"'].images[0].sha256
    manifest = out.manifest()
    assert manifest["rejected"] == {"no_image": 1} and manifest["records_out"] == 2
    assert manifest["stats"]["qa_pairs"] == 3
    assert teacher.calls == 2 * 2 + 1 * 2 + 1  # per conversation: statements, describe, one phrase per question


def test_a_killed_vet_run_resumes_from_the_journal(llava, tmp_path, monkeypatch):
    complete = ScriptedTeacher()
    assert _build(monkeypatch, llava, tmp_path / "full", complete) == 0
    with pytest.raises(RuntimeError, match="killed"):
        _build(monkeypatch, llava, tmp_path / "vet", ScriptedTeacher(crash_after=4))
    rerun = ScriptedTeacher()
    assert _build(monkeypatch, llava, tmp_path / "vet", rerun) == 0
    assert rerun.calls == complete.calls - 4  # the 4 answered requests came from the journal
    done = {r.id: (r.question, r.response) for r in Dataset(tmp_path / "vet").iter_samples()}
    assert done == {r.id: (r.question, r.response) for r in Dataset(tmp_path / "full").iter_samples()}


def test_a_text_only_describer_is_refused_at_start_up(llava, tiny, tmp_path, capsys):
    code = main(["vet", "build", str(llava), "--teacher", f"hf:{tiny['lm']}", "--out", str(tmp_path / "vet")])
    assert code == 2
    err = capsys.readouterr().err
    assert "text-only" in err and "--describer" in err
    assert not (tmp_path / "vet").exists()


def test_reply_parsers_are_tolerant_of_numbering_labels_and_think_blocks():
    assert parse_statements("<think>hm</think>1. The bus is red.\n- It is parked.\n\nStatement 3: Two people.") == \
        ["The bus is red.", "It is parked.", "Two people."]
    assert parse_contents('Contents to observe: "the bars and their values."\nmore') == "the bars and their values"
    assert join_contents(["the bus", "The bus", "the people"]) == "the bus; the people"


def test_failed_or_truncated_replies_reject_the_conversation_with_its_samples(llava):
    class Truncating(ScriptedTeacher):
        async def complete(self, messages, params):
            out = await super().complete(messages, params)
            if not isinstance(messages[-1]["content"], str):
                out[0].finish_reason = "length"
            return out

    from finereason.train.vet import vet_tasks

    paths = Dataset(llava).shard_paths()
    teacher = Truncating()
    stage = VetStage(teacher, teacher, VetSettings("hf:t", "hf:t"))
    result = asyncio.run(stage.run(vet_tasks(paths, plan_groups(paths))[0].load()))
    assert not result.kept
    assert sorted(r.reason for r in result.rejected) == ["no_image", "truncated", "truncated", "truncated"]


def test_a_perception_module_trains_on_vet_data_and_loads_as_hf(llava, tiny, tmp_path, monkeypatch):
    import finereason.models.hf as hf_backend
    from finereason.models.types import SamplingParams

    assert _build(monkeypatch, llava, tmp_path / "vet", ScriptedTeacher()) == 0
    trl = export(tmp_path / "vet", tmp_path / "vet-trl", "trl")
    config = load_config(recipe(tiny["idefics3"], trl, tmp_path / "extractor", freeze={"vision_tower": False}))
    summary = run_sft(config)
    extractor = hf_backend.load(f"hf:{summary['final']}")
    instruction = next(Dataset(tmp_path / "vet").iter_samples()).question
    messages = [{"role": "user", "content": [{"type": "image", "image": png("red")},
                                             {"type": "text", "text": instruction}]}]
    completion = asyncio.run(extractor.complete(messages, SamplingParams(max_tokens=6, temperature=0)))[0]
    assert completion.completion_tokens > 0
