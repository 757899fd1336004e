"""The MMFineReason release's records (HF Full-2.3M and the paper's column names) as drafts.

Mapping: ``caption`` → caption, ``qwen3vl_235b_thinking_response`` → response, ``pass_rate`` →
pass_rate, ``is_consistent`` → verdict ("correct"/"incorrect", decided by "release");
``consistency_analysis``, ``original_answer``, ``ori_question`` and the release id go to meta.
The question keeps its leading ``<image>`` tag (``clean`` strips it). The domain comes from the
subset name (mmfinereason.md §1, Table 5).
"""

from __future__ import annotations

import re
from typing import Any

from finereason.io.readers import fields as F
from finereason.io.readers.base import Draft
from finereason.io.readers.image_refs import image_values

#: Subset (HF config) name, lower-cased with non-alphanumerics removed and any "FineVision-"
#: prefix dropped → domain. MMK12 counts as math, as §4.1 of the paper does.
SUBSET_DOMAINS = {
    "mmr1": "math", "waltoncoldstart": "math", "virl39k": "math", "euclid30k": "math",
    "mmk12": "math", "geo170kqa": "math", "geo170k": "math", "geometry3k": "math", "geo3k": "math",
    "mmopenr18k": "math", "wemath2": "math", "wemath2std": "math", "wemath2standard": "math",
    "wemath2pro": "math", "wemath2sft": "math",
    "visualwebinstruct": "science", "bmmr": "science", "tqa": "science", "ai2d": "science",
    "zebracotphysics": "science", "scienceqa": "science",
    "gameqa140k": "puzzle", "gameqa": "puzzle", "raven": "puzzle", "visualsphinx": "puzzle",
    "puzzlevqa": "puzzle",
    "llavacot": "general",
}

#: Sample field → the release's column names for it, preferred first (HF names, then the paper's).
_ALIASES = {
    "caption": ("caption", "qwen3vl_235b_instruct_caption"),
    "response": ("qwen3vl_235b_thinking_response",),
    "pass_rate": ("pass_rate", "qwen3vl_4b_pass_rate"),
    "ori_question": ("ori_question", "original_question"),
}
_META = ("consistency_analysis", "original_answer")

#: Field names this mapping understands (the targets ``--map`` may name).
KNOWN = frozenset(
    {"id", "source", "question", "answer", "image", "images", "is_consistent", *_META,
     *(name for names in _ALIASES.values() for name in names)}
)


def subset_domain(source: str) -> str | None:
    """``"FineVision-scienceqa"`` → ``"science"``; an unknown subset → ``None``."""
    name = re.sub(r"[^0-9a-z]", "", source.lower()).removeprefix("finevision")
    return SUBSET_DOMAINS.get(name)


def _pick(data: dict[str, Any], names: tuple[str, ...], used: set[str]) -> str | None:
    for name in names:
        if data.get(name) is not None:
            used.add(name)
            return name
    return None


def map_record(data: dict[str, Any], key: str, default_source: str) -> list[Draft]:
    used = {"id", "source", "question", "answer", "image", "images", "is_consistent"}
    source = F.opt_str(data, "source") or default_source
    question = F.question(data)
    images = image_values(data)
    answer = F.answer_or_open(data, bool(images))
    source_id = F.record_id(data)
    cols = {f: _pick(data, names, used) for f, names in _ALIASES.items()}
    fields: dict[str, Any] = {
        "domain": subset_domain(source),
        "caption": F.opt_str(data, cols["caption"]) if cols["caption"] else None,
        "response": F.opt_str(data, cols["response"]) if cols["response"] else None,
        "pass_rate": F.opt_rate(data, cols["pass_rate"]) if cols["pass_rate"] else None,
    }
    if answer is None:
        fields["answer_type"] = F.OPEN_ANSWER
    consistent = F.opt_bool(data, "is_consistent")
    if consistent is not None:
        fields.update(verdict="correct" if consistent else "incorrect", verdict_by="release")
    meta: dict[str, Any] = {}
    if source_id is not None:
        meta["source_id"] = data["id"]
    if cols["ori_question"]:
        meta["ori_question"] = F.opt_str(data, cols["ori_question"])
    for name in _META:
        if data.get(name) is not None:
            meta[name] = data[name]
            used.add(name)
    meta.update({k: v for k, v in data.items() if k not in used and v is not None})
    return [Draft(source_id or key, source, question, answer, images, fields, meta)]
