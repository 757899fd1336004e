"""LLM text cleaning (MMFineReason stage 1): translate, strip noise, fix shallow instructions,
drop questions that have no checkable answer.

One text-only request per question with the ``clean`` prompt (as in the seed, the cleaner
judges the wording, not the picture). The reply is parsed strictly: the literal
"No Problem", or one JSON object with ``error_type`` ⊂ {translation, irrelevant content,
non-answer question, low-quality instruction} and ``corrected_text``, found outside any
``<think>`` block by scanning for a balanced object. The public code used a greedy ``{.*}``
regex, which spans from a brace in the reasoning or in a LaTeX formula to the last brace of the
reply. Outcomes:

- no problem: the sample is unchanged;
- non-answer question: rejected, reason ``non_answerable``;
- other fixes: the question is replaced (rule-cleaned again) and flagged ``llm_<fix>``;
- anything unparseable or a truncated reply: unchanged, flagged ``llm_clean_unparsed``, counted;
- a request that failed after the client's retries: unchanged, flagged ``llm_clean_failed`` and
  counted as ``failed``, which tells the engine the shard is not done: a rerun redoes it, and
  the journal answers every request that had succeeded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from finereason.clean.options import parse_options
from finereason.clean.text import clean_question
from finereason.models.types import Completion, Message, ModelError, SamplingParams
from finereason.pipeline.stage import Stage, StageResult
from finereason.schema import Rejection, Sample

ERROR_TYPES = ("translation", "irrelevant content", "non-answer question", "low-quality instruction")

#: Qwen3 thinking models (the seed's cleaner) loop under greedy decoding; 0.6/0.95 is their
#: recommended setting. A fixed seed makes reruns reproducible on servers that honour it.
DEFAULT_PARAMS = SamplingParams(max_tokens=8192, temperature=0.6, top_p=0.95, seed=0)


class CompletionModel(Protocol):
    """All this stage needs of a model: :meth:`finereason.models.types.Model.complete`."""

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]: ...


@dataclass(frozen=True)
class Verdict:
    """The cleaner's decision; an empty ``error_types`` means "No Problem"."""

    error_types: tuple[str, ...]
    corrected_text: str


class VerdictError(ValueError):
    """A reply that is not a verdict; ``reason`` is a short key stored on the sample."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# ---- parsing -----------------------------------------------------------------------------------

#: LaTeX commands whose first letter makes ``\b \f \n \r \t`` a valid JSON escape: a model that
#: writes ``"\frac"`` unescaped would silently get a form feed + "rac". Inside a JSON string, a
#: backslash followed by one of these whole words is read as LaTeX. (No JSON library repairs
#: this, hence this list.)
_LATEX_ON_JSON_ESCAPES = frozenset(
    "bar beta binom boxed because begin bigcup bigcap bigl bigr bigg bot bmod bullet bf big "
    "backslash bmatrix breve boldsymbol frac forall flat frown fbox neq ne nu nabla neg not notin "
    "nmid nleq ngeq nsubseteq nparallel newline nolimits nonumber natural nearrow nwarrow ni "
    "right rho rightarrow rangle rm rceil rfloor rbrace rvert rbrack times theta tan tanh text "
    "textbf textit textrm tfrac triangle triangleq therefore to top tau tilde textstyle tbinom "
    "textcircled triangleleft triangleright".split()
)
_WORD_RE = re.compile(r"[A-Za-z]+")
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")


def visible_text(reply: str) -> str:
    """The reply without its reasoning; raises :class:`VerdictError` if reasoning never ended."""
    if "</think>" in reply:
        return reply.rsplit("</think>", 1)[1]
    if "<think>" in reply:
        raise VerdictError("unclosed_think", "the reply ended inside <think>")
    return reply


def _scan_object(text: str, start: int) -> tuple[str, int] | None:
    """Scan the JSON object opening at ``text[start]``; return it (backslashes repaired) and its end,
    or None if it never closes.

    Braces inside strings do not count, so ``"\\frac{a}{b}"`` in a value cannot end the object.
    A backslash that is not a JSON escape (``\\sqrt``) or that starts a LaTeX word listed above
    (``\\frac``) is kept literally by doubling it; valid escapes (``\\n``, ``\\"``, ``\\\\``,
    ``\\u00e9``) are left as they are.
    """
    out: list[str] = []
    depth, in_string, i = 0, False, start
    while i < len(text):
        ch = text[i]
        if in_string and ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt and nxt in '"\\/':
                out.append(ch + nxt)
                i += 2
                continue
            if nxt == "u" and _HEX4_RE.match(text, i + 2):
                out.append(text[i:i + 6])
                i += 6
                continue
            word = _WORD_RE.match(text, i + 1)
            if nxt and nxt in "bfnrt" and not (word and word.group(0) in _LATEX_ON_JSON_ESCAPES):
                out.append(ch + nxt)
                i += 2
                continue
            out.append("\\\\")
            i += 1
            continue
        if ch == '"':
            in_string = not in_string
        elif not in_string and ch == "{":
            depth += 1
        elif not in_string and ch == "}":
            depth -= 1
            if depth == 0:
                out.append(ch)
                return "".join(out), i + 1
        out.append(ch)
        i += 1
    return None


#: Start positions tried before giving up: the verdict sits at the end of a reply, so the search
#: runs backwards and stays cheap; the cap bounds the work on a reply full of unbalanced braces.
_MAX_STARTS = 2000


def last_json_object(text: str, key: str) -> dict[str, Any] | None:
    """The last balanced JSON object in ``text`` that parses and has ``key``; prose is ignored.

    Searching backwards from the last ``{`` also skips the braces of LaTeX inside the object's
    strings (``{2}`` in ``\\frac{1}{2}`` is tried first and fails to parse as an object).
    """
    starts = [m.start() for m in re.finditer(r"\{", text)][-_MAX_STARTS:]
    for i in reversed(starts):
        scanned = _scan_object(text, i)
        if scanned is None:
            continue
        try:
            obj = json.loads(scanned[0], strict=False)  # strict=False: raw newlines inside strings
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and key in obj:
            return obj
    return None


def _type_key(kind: str) -> str:
    """Spelling-insensitive key: "Low_Quality Instruction" and "low-quality instruction" agree."""
    return re.sub(r"[\s_\-]+", " ", kind.casefold()).strip()


_CANONICAL = {_type_key(t): t for t in ERROR_TYPES}
_NO_PROBLEM_RE = re.compile(r"[\s*`\"'“”]*no\s+problems?[\s.!*`\"'“”]*", re.IGNORECASE)


def parse_verdict(reply: str) -> Verdict:
    """Parse a cleaner reply strictly, or raise :class:`VerdictError` saying what was wrong."""
    visible = visible_text(reply).strip()
    if _NO_PROBLEM_RE.fullmatch(visible):
        return Verdict((), "")
    obj = last_json_object(visible, "error_type")  # a model that restates its answer means the last
    if obj is None:
        raise VerdictError("no_verdict", "neither 'No Problem' nor a JSON object with error_type")
    kinds = obj["error_type"]
    if isinstance(kinds, str):
        kinds = [kinds] if kinds.strip() else []
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise VerdictError("bad_error_type", f"error_type is {type(kinds).__name__}, expected a list of strings")
    unknown = [k for k in kinds if _type_key(k) not in _CANONICAL]
    if unknown:
        raise VerdictError("unknown_error_type", ", ".join(unknown))
    norm = tuple(dict.fromkeys(_CANONICAL[_type_key(k)] for k in kinds))
    text = obj.get("corrected_text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise VerdictError("bad_corrected_text", f"corrected_text is {type(text).__name__}")
    if norm and "non-answer question" not in norm and not text.strip():
        raise VerdictError("missing_corrected_text", f"{', '.join(norm)} without corrected_text")
    return Verdict(norm, text)


# ---- the stage ---------------------------------------------------------------------------------

PromptLike = Any  # a loaded Prompt (``.render(question=…)``), a template string, or a callable


def _renderer(prompt: PromptLike) -> tuple[Callable[[str], str], str]:
    """A function question → prompt text, and a reference to record in the manifest."""
    if hasattr(prompt, "render"):
        return (lambda q: prompt.render(question=q)), str(getattr(prompt, "ref", "prompt"))
    if isinstance(prompt, str):
        if "{question}" not in prompt:
            raise ValueError("a clean prompt string must contain the placeholder {question}")
        # replace, not str.format: the template may hold literal braces (JSON examples, LaTeX).
        return (lambda q: prompt.replace("{question}", q)), "sha256:" + hashlib.sha256(prompt.encode()).hexdigest()[:12]
    if callable(prompt):
        return prompt, getattr(prompt, "__qualname__", "callable")
    raise TypeError(f"prompt must be a Prompt, a template string or a callable, not {type(prompt).__name__}")


class LLMClean:
    """Async stage: one cleaning request per sample, through any object with ``complete``."""

    name = "llm_clean"
    version = "1"

    def __init__(self, model: CompletionModel, prompt: PromptLike, params: SamplingParams = DEFAULT_PARAMS,
                 model_id: str | None = None) -> None:
        self.model = model
        self.params = params
        self._render, self.prompt_ref = _renderer(prompt)
        self.model_id = model_id or str(getattr(model, "spec", type(model).__name__))

    def settings(self) -> dict[str, Any]:
        return {"model": self.model_id, "prompt": self.prompt_ref, "params": self.params.as_dict()}

    async def run(self, batch: list[Sample]) -> StageResult:
        counts: Counter[str] = Counter()
        results = await asyncio.gather(*(self.clean_one(s, counts) for s in batch))
        kept = [r for r in results if isinstance(r, Sample)]
        rejected = [r for r in results if isinstance(r, Rejection)]
        failed = counts.pop("failed", 0)
        return StageResult(kept, rejected, failed=failed, stats=dict(counts))

    async def clean_one(self, sample: Sample, counts: Counter[str]) -> Sample | Rejection:
        messages: list[Message] = [{"role": "user", "content": self._render(sample.question)}]
        counts["llm_clean_requests"] += 1
        try:
            completions = await self.model.complete(messages, self.params)
        except ModelError as e:
            counts["failed"] += 1  # StageResult.failed: a shard with failures is redone on rerun
            return _unchanged(sample, "llm_clean_failed", str(e))
        if not completions:
            counts["llm_clean_unparsed"] += 1
            return _unchanged(sample, "llm_clean_unparsed", "no completion")
        reply = completions[0]
        if reply.truncated:  # a cut-off reply is not trusted, even if a JSON object parses
            counts["llm_clean_unparsed"] += 1
            counts["llm_clean_truncated"] += 1
            return _unchanged(sample, "llm_clean_unparsed", "truncated")
        try:
            verdict = parse_verdict(reply.text)
        except VerdictError as e:
            counts["llm_clean_unparsed"] += 1
            return _unchanged(sample, "llm_clean_unparsed", str(e))
        if "non-answer question" in verdict.error_types:
            counts["llm_clean_non_answerable"] += 1
            return Rejection(self.name, "non_answerable", f"LLM verdict: {', '.join(verdict.error_types)}", sample)
        if not verdict.error_types:
            counts["llm_clean_no_problem"] += 1
            return sample
        return self._apply(sample, verdict, counts)

    def _apply(self, sample: Sample, verdict: Verdict, counts: Counter[str]) -> Sample:
        question = clean_question(verdict.corrected_text).text
        if not question:
            counts["llm_clean_unparsed"] += 1
            return _unchanged(sample, "llm_clean_unparsed", "corrected_text is empty after cleaning")
        if question == sample.question:  # a fix claimed but nothing to change: keep it unflagged
            counts["llm_clean_same_text"] += 1
            return sample
        counts["llm_clean_changed"] += 1
        out = dataclasses.replace(sample, question=question, meta=dict(sample.meta), flags=list(sample.flags))
        if "original_question" not in out.meta:
            out.meta_set("original_question", sample.question)
        for kind in verdict.error_types:
            flag = "llm_" + kind.replace(" ", "_").replace("-", "_")
            counts[flag] += 1
            if flag not in out.flags:
                out.flags.append(flag)
        # Options parsed from the old text are re-read from the new one (a translation translates
        # them); options a source supplied separately are left alone.
        old = parse_options(sample.question)
        if sample.options and old and old.texts == sample.options:
            new = parse_options(question)
            if new and len(new.texts) == len(sample.options):
                out.options = new.texts
            else:
                counts["llm_clean_options_mismatch"] += 1
                out.flags.append("llm_clean_options_mismatch")
        return out


def _unchanged(sample: Sample, flag: str, detail: str) -> Sample:
    out = dataclasses.replace(sample, meta=dict(sample.meta), flags=list(sample.flags))
    if flag not in out.flags:
        out.flags.append(flag)
    out.meta_set("llm_clean_error", detail)
    return out


class RulesThenLLM:
    """``finereason clean --llm``: the rule stage, then :class:`LLMClean` on what it kept.

    One async stage so one command and one output folder do both; the rules (image work
    included) run in a worker thread so the event loop keeps feeding the model meanwhile. With
    ``answers`` (``--llm-answers``), samples the rules rejected as ``answer_unextracted`` first get
    an LLM answer-extraction request; those with an answer go through the rules again.
    """

    name = "clean"

    def __init__(self, rules: Stage, llm: LLMClean, answers: Any = None) -> None:
        self.rules = rules
        self.llm = llm
        self.answers = answers  # a finereason.clean.llm_answers.LLMAnswers, or None
        self.version = f"{rules.version}+llm{llm.version}" + (f"+answers{answers.version}" if answers else "")

    def settings(self) -> dict[str, Any]:
        out = {**self.rules.settings(), "llm": self.llm.settings()}
        if self.answers is not None:
            out["llm_answers"] = self.answers.settings()
        return out

    def open(self, context: Any = None) -> None:
        if isinstance(self.llm.model, SessionModel):
            self.llm.model.open(context)

    def status(self) -> str:
        return self.llm.model.status() if isinstance(self.llm.model, SessionModel) else ""

    async def aclose(self) -> None:
        if isinstance(self.llm.model, SessionModel):
            await self.llm.model.aclose()

    async def run(self, batch: list[Sample]) -> StageResult:
        first = await asyncio.to_thread(self.rules, batch)
        stats = Counter(first.stats)
        kept, rejected = list(first.kept), list(first.rejected)
        failed = first.failed
        if self.answers is not None:
            rescued, rejected = await self.answers.rescue(rejected, stats)
            failed += stats.pop("failed", 0)
            again = await asyncio.to_thread(self.rules, rescued)
            stats.update(again.stats)
            failed += again.failed
            kept += again.kept
            rejected += again.rejected
        second = await self.llm.run(kept)
        stats.update(second.stats)
        return StageResult(second.kept, rejected + second.rejected, records_in=len(batch),
                           failed=failed + second.failed, stats=dict(stats))


class SessionModel:
    """The journaled model of ``clean --llm``, opened by the stage's ``open`` once the engine has
    checked the output folder (so the journal never lands in a folder the run then refuses)."""

    def __init__(self, spec: str, journal_path: str | None, concurrency: int | None = None) -> None:
        from finereason.models.session import LazyClient  # the model layer only when --llm is used

        self.lazy = LazyClient(spec, journal_path, concurrency)

    def open(self, context: Any = None) -> None:
        if self.lazy._client is None:
            self.lazy.context = context
        self.lazy.get()

    async def complete(self, messages: list[Message], params: SamplingParams) -> list[Completion]:
        return await self.lazy.get().complete(messages, params)

    def status(self) -> str:
        client = self.lazy.get()
        u = client.usage
        return f"{u.requests} requests · {u.cached} journaled · {u.failed} failed · {client.in_flight} in flight"

    async def aclose(self) -> None:
        await self.lazy.aclose()
