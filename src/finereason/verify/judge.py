"""The LLM judge of MMFineReason's stage 3(c): the versioned prompt and a strict JSON verdict parser.

The judge sees only what the rules could not decide (``undecided``, and with a flag ``unparsed``).
Its prompt is the bundled template ``prompts/judge.txt`` (its ``ref``, id@version#sha, goes into the
manifest). The release code accepted any reply *containing* "EQUIVALENT", so "NOT EQUIVALENT"
passed, and its template placeholders did not match the names it formatted with, so the judge
never ran. Here the reply must be one JSON object whose ``judgment`` is exactly ``EQUIVALENT`` or
``DIFFERENT``; anything else is ``error`` for the caller to retry or inspect, never a pass.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Callable, Literal, Optional

from finereason.prompts.loader import Prompt, load_prompt

Judge = Callable[[str, str, str], str]
"""``judge(question, reference, candidate) -> reply text`` supplied by the caller."""

JUDGE_PLACEHOLDERS = ("question", "reference", "response")

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)
_FENCE_RE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)


@lru_cache(maxsize=None)
def judge_prompt(path: Optional[str] = None) -> Prompt:
    """The judge template: the bundled ``judge`` prompt, or an override file at ``path``."""
    return load_prompt(path or "judge", expect=JUDGE_PLACEHOLDERS)


def build_judge_prompt(question: str, reference: str, response: str, prompt: Optional[Prompt] = None) -> str:
    """The judge prompt with its three placeholders filled (values are never re-parsed)."""
    return (prompt or judge_prompt()).render(question=question, reference=reference, response=response)


def parse_judgment(reply: str) -> Optional[Literal["correct", "incorrect"]]:
    """Verdict from a judge reply, or None when it is not exactly parseable.

    After a closed ``<think>`` block is removed, the reply must be one JSON object (optionally in a
    single ```json fence) with a string ``judgment`` equal to ``EQUIVALENT`` or ``DIFFERENT``
    (case-insensitive). Prose around the object, "NOT EQUIVALENT", a missing key, a truncated
    reply or an unclosed ``<think>`` all give None.
    """
    text = _THINK_RE.sub("", reply)
    if "<think>" in text:  # reasoning never closed: the reply was cut off
        return None
    text = text.strip()
    fenced = _FENCE_RE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("judgment"), str):
        return None
    judgment = obj["judgment"].strip().upper()
    if judgment == "EQUIVALENT":
        return "correct"
    if judgment == "DIFFERENT":
        return "incorrect"
    return None


def prompt_judge(complete: Callable[[str], str], prompt: Optional[Prompt] = None) -> Judge:
    """Adapt a text-completion function (prompt -> reply) into a :data:`Judge`.

    Lets a caller plug any model client in without knowing the prompt.
    """
    template = prompt or judge_prompt()

    def judge(question: str, reference: str, candidate: str) -> str:
        return complete(build_judge_prompt(question, reference, candidate, template))

    return judge
