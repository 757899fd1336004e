import hashlib
import re

import pytest

from finereason.prompts import TEMPLATE_DIR, PromptError, available, load_prompt, parse_prompt

EXPECTED = {
    "caption": ("question",),
    "distill": ("question",),
    "clean": ("question",),
    "answer_extraction": ("question", "solution"),
    "mathvista_extract": ("query", "response"),
    "judge": ("question", "reference", "response"),
    "contents_to_observe": ("question",),
    "describe": ("contents",),
    "describe_generic": (),
    "extract": ("contents",),
    "reason": ("description", "question"),
    "reason_cot": ("description", "question"),
    "vet_statements": ("qa_pairs",),
    "vet_describe": ("statements",),
    "direct": ("question",),
    "direct_cot": ("question",),
    "direct_open": ("question",),
    "direct_open_cot": ("question",),
    "reason_open": ("description", "question"),
    "reason_open_cot": ("description", "question"),
    "student": ("question",),
}


def write(tmp_path, body, placeholders="question", name="custom.txt", header_extra=""):
    path = tmp_path / name
    path.write_text(
        f"id: custom\nversion: 2\nplaceholders: {placeholders}\n{header_extra}---\n{body}", encoding="utf-8"
    )
    return path


def test_every_bundled_template_loads_with_its_contract():
    assert set(available()) == set(EXPECTED)
    for name, placeholders in EXPECTED.items():
        prompt = load_prompt(name, expect=placeholders)
        assert prompt.id == name and prompt.version >= 1
        assert set(prompt.placeholders) == set(placeholders)
        rendered = prompt.render(**{p: f"<<{p}>>" for p in placeholders})
        for p in placeholders:
            assert f"<<{p}>>" in rendered


def test_template_content_follows_the_specs():
    assert load_prompt("distill").render(question="q").rstrip().endswith("q")
    assert "Therefore, the final answer is <answer>X</answer>." in load_prompt("distill").text
    for phase in ("Information Extraction", "Problem Setup", "Solution Execution", "Validation"):
        assert phase in load_prompt("distill").text
    caption = load_prompt("caption").text
    assert "### Image N: <category>" in caption
    assert len(re.findall(r"^\d+\. \w", caption, flags=re.M)) == 15 + 12
    clean = load_prompt("clean").render(question="q")
    assert '{"error_type": [], "corrected_text": ""}' in clean
    for kind in ("translation", "irrelevant content", "non-answer question", "low-quality instruction"):
        assert f'"{kind}"' in clean
    judge = load_prompt("judge").render(question="q", reference="r", response="s")
    assert '"judgment": "EQUIVALENT"}' in judge and '"judgment": "DIFFERENT"}' in judge and '{"analysis":' in judge
    assert "\\boxed{...}" in load_prompt("answer_extraction").render(question="q", solution="s")
    assert load_prompt("describe").render(contents="the bars").rstrip().endswith("pay attention to the bars.")
    assert "Answer:" in load_prompt("reason").text and "step by step" in load_prompt("reason_cot").text


def test_render_keeps_latex_braces_in_values_and_templates():
    judge = load_prompt("judge")
    out = judge.render(question=r"Find $\frac{1}{2} + {x}$", reference=r"\boxed{\frac{3}{4}}", response="{0}")
    assert r"Find $\frac{1}{2} + {x}$" in out and r"\boxed{\frac{3}{4}}" in out and "\n{0}\n" in out
    assert r"\frac{\sqrt{2}}{2}" in out  # escaped braces in the template render as single braces


def test_render_names_missing_and_unknown_values():
    judge = load_prompt("judge")
    with pytest.raises(PromptError, match=r"missing value\(s\) for \{response\}"):
        judge.render(question="q", reference="r")
    with pytest.raises(PromptError, match=r"unknown placeholder\(s\) \{generated\}"):
        judge.render(question="q", reference="r", response="s", generated="g")


def test_caller_expectation_fails_at_load():
    """The public code's bug: the caller supplied names the template did not use."""
    with pytest.raises(PromptError, match=r"\{generated\}.*|\{response\}"):
        load_prompt("judge", expect={"question", "reference", "generated"})


def test_override_by_path(tmp_path):
    path = write(tmp_path, "Judge {question} against {solution}.\n", placeholders="question, solution")
    prompt = load_prompt(path)
    assert (prompt.id, prompt.version, prompt.placeholders) == ("custom", 2, ("question", "solution"))
    assert prompt.render(question="1+1", solution="2") == "Judge 1+1 against 2.\n"
    with pytest.raises(PromptError, match=r"custom.txt.*\{reference\}"):
        load_prompt(str(path), expect={"question", "reference"})


def test_body_and_header_must_agree(tmp_path):
    with pytest.raises(PromptError, match=r"unknown placeholder\(s\) \{answer\}"):
        load_prompt(write(tmp_path, "{question} {answer}"))
    with pytest.raises(PromptError, match=r"declared placeholder\(s\) \{question\} do not appear"):
        load_prompt(write(tmp_path, "no fields here"))


@pytest.mark.parametrize(
    "body", [r"\frac{1}{2} {question}", "{question} {0}", "{question.attr}", "{question!r}", "{question:>5}", "{}"]
)
def test_only_bare_names_and_escaped_braces(tmp_path, body):
    with pytest.raises(PromptError, match="custom.txt"):
        load_prompt(write(tmp_path, body))


def test_malformed_headers(tmp_path):
    with pytest.raises(PromptError, match="'---'"):
        parse_prompt("id: x\nversion: 1\nplaceholders:\nbody")
    with pytest.raises(PromptError, match="lacks 'version'"):
        parse_prompt("id: x\nplaceholders:\n---\nbody")
    with pytest.raises(PromptError, match="bad header line"):
        parse_prompt("id: x\nversoin: 1\nplaceholders:\n---\nbody")
    with pytest.raises(PromptError, match="integer"):
        parse_prompt("id: x\nversion: one\nplaceholders:\n---\nbody")
    with pytest.raises(PromptError, match="unknown prompt 'nope'"):
        load_prompt("nope")
    with pytest.raises(PromptError, match="does not exist"):
        load_prompt(tmp_path / "missing.txt")


def test_hash_is_of_the_body_and_stable(tmp_path):
    judge = load_prompt("judge")
    assert judge.sha256 == hashlib.sha256(judge.text.encode()).hexdigest() == load_prompt("judge").sha256
    assert judge.ref == f"judge@v2#{judge.sha256[:12]}"
    lf = write(tmp_path, "Line one {question}\nLine two\n", name="lf.txt")
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(lf.read_bytes().replace(b"\n", b"\r\n"))
    assert load_prompt(lf).sha256 == load_prompt(crlf).sha256
    changed = write(tmp_path, "Line one {question}\nLine 2\n", name="changed.txt")
    assert load_prompt(changed).sha256 != load_prompt(lf).sha256


def test_template_dir_holds_only_templates():
    assert all(p.suffix in (".txt", ".py") for p in TEMPLATE_DIR.iterdir() if p.is_file())
