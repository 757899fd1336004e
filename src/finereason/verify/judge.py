"""The optional LLM judge: prompt text and a strict verdict parser.

The release code accepted any reply *containing* "EQUIVALENT", so "NOT EQUIVALENT" passed, and its
template placeholders did not match the names it formatted with, so the judge never ran. Here the
placeholders are fixed and tested, and only an exact verdict line counts; anything else is an
``error`` for the caller to retry or inspect, never a pass.
"""

from __future__ import annotations

import re
from typing import Callable, Literal, Optional

Judge = Callable[[str, str, str], str]
"""``judge(question, reference, candidate) -> reply text`` supplied by the caller."""

JUDGE_PROMPT_VERSION = "verify-judge-v1"

JUDGE_PROMPT = """You are grading a candidate's final answer against a reference answer.

Question:
{question}

Reference answer:
{reference}

Candidate's final answer:
{response}

Decide whether the candidate's final answer is equivalent to the reference answer.
- Judge only equivalence with the reference. Do not solve the problem yourself and do not decide
  whether the reference is right.
- Equivalent means the same value, choice or statement: notation, formatting, units the question
  implies, and equivalent mathematical forms (1/2 and 0.5, x=5 and 5) do not matter.
- A choice letter is equivalent to the text of the option it labels.
- Different values, a different option, extra or missing parts of a multi-part answer, or a
  refusal are not equivalent.

Reply with one short line starting "Analysis:", then a last line that is exactly
JUDGMENT: EQUIVALENT
or
JUDGMENT: DIFFERENT
"""

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)


def build_judge_prompt(question: str, reference: str, response: str) -> str:
    """The judge prompt with its three placeholders filled."""
    return JUDGE_PROMPT.format(question=question, reference=reference, response=response)


def parse_judgment(reply: str) -> Optional[Literal["correct", "incorrect"]]:
    """Verdict from a judge reply, or None when it is not exactly parseable.

    The last line starting with "JUDGMENT" decides, and it must read exactly
    ``JUDGMENT: EQUIVALENT`` or ``JUDGMENT: DIFFERENT`` (case-insensitive, surrounding blanks
    allowed). "JUDGMENT: NOT EQUIVALENT", a bare "DIFFERENT", markdown decoration, or no such line
    all give None. A ``<think>`` block in the reply is ignored.
    """
    text = _THINK_RE.sub("", reply)
    if "<think>" in text:  # reasoning never closed: the reply was cut off
        return None
    lines = [ln.strip() for ln in text.splitlines()]
    verdict_lines = [ln for ln in lines if ln.upper().startswith("JUDGMENT")]
    if not verdict_lines:
        return None
    m = re.fullmatch(r"JUDGMENT:\s*(EQUIVALENT|DIFFERENT)", verdict_lines[-1], re.IGNORECASE)
    if not m:
        return None
    return "correct" if m.group(1).upper() == "EQUIVALENT" else "incorrect"


def prompt_judge(complete: Callable[[str], str]) -> Judge:
    """Adapt a text-completion function (prompt -> reply) into a :data:`Judge`.

    Lets a caller plug any model client in without knowing the prompt.
    """

    def judge(question: str, reference: str, candidate: str) -> str:
        return complete(build_judge_prompt(question, reference, candidate))

    return judge
