"""Answer verification for distilled chain-of-thought data.

``extract_answer`` finds the final answer in a response, ``verify_answer`` / ``Verifier`` decide
whether it matches the reference through a recorded cascade (exact → choice → numeric →
math-verify in a killable worker pool); what the rules cannot decide is ``undecided`` and goes to
the optional LLM judge (``prompts/judge.txt``, strict JSON reply). ``check_response`` flags format,
length, truncation, repetition and language problems. Options in question text are read by
:func:`finereason.clean.options.parse_options` (one parser for the package).
"""

from finereason.verify.equivalence import (
    Verdict,
    Verifier,
    VerifyItem,
    close,
    verify_answer,
    verify_many,
)
from finereason.verify.extract import (
    Extraction,
    ThinkSplit,
    extract_answer,
    extract_choice,
    split_think,
)
from finereason.verify.judge import (
    build_judge_prompt,
    judge_prompt,
    parse_judgment,
    prompt_judge,
)
from finereason.verify.normalize import normalize_answer
from finereason.verify.quality import QualityConfig, check_caption, check_response

__all__ = [
    "Extraction",
    "QualityConfig",
    "ThinkSplit",
    "Verdict",
    "Verifier",
    "VerifyItem",
    "build_judge_prompt",
    "check_caption",
    "check_response",
    "close",
    "extract_answer",
    "extract_choice",
    "judge_prompt",
    "normalize_answer",
    "parse_judgment",
    "prompt_judge",
    "split_think",
    "verify_answer",
    "verify_many",
]
