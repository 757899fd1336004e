"""LLaVA-style conversations, one sample per question-answer pair.

A record is ``{"id", "image": str | [str], "conversations": [{"from": "human"|"gpt", "value"}]}``
(``role``/``content`` with ``user``/``assistant`` are read the same way; ``system`` turns are
skipped). Each human turn and the gpt turn after it become one sample that keeps all the
record's images; ``meta`` keeps the conversation id and the pair's turn index. The ``<image>``
tag stays in the text, as in the release (``clean`` strips it). A pair without an answer or a
question is rejected on its own; the other pairs of the conversation are kept.
"""

from __future__ import annotations

from typing import Any

from finereason.io.readers import fields as F
from finereason.io.readers.base import Draft, RecordError
from finereason.io.readers.image_refs import image_values

KNOWN = frozenset({"id", "image", "images", "conversations", "source"})

_ASKS = {"human", "user"}
_ANSWERS = {"gpt", "assistant"}


def _turns(data: dict[str, Any]) -> list[tuple[str, str]]:
    """``(role, text)`` for each turn, refusing turns that are not ``{from|role, value|content}``."""
    conv = data.get("conversations")
    if not isinstance(conv, list):
        raise F.bad_field("conversations", "a list of turns", conv)
    turns = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise F.bad_field(f"conversations[{i}]", "an object", turn)
        role = turn.get("from", turn.get("role"))
        text = turn.get("value", turn.get("content"))
        if not isinstance(role, str) or role.lower() not in _ASKS | _ANSWERS | {"system"}:
            raise RecordError("bad_field", f"conversations[{i}].from: expected human or gpt, got {role!r}")
        if text is not None and not isinstance(text, str):
            raise F.bad_field(f"conversations[{i}].value", "a string", text)
        if role.lower() != "system":
            turns.append((role.lower(), text or ""))
    return turns


def map_record(data: dict[str, Any], key: str, default_source: str) -> list[Draft | RecordError]:
    conv_id = F.record_id(data)
    source = F.opt_str(data, "source") or default_source
    images = image_values(data)
    turns = _turns(data)
    extra = {k: v for k, v in data.items() if k not in KNOWN and v is not None}
    out: list[Draft | RecordError] = []
    i = turn = 0
    while i < len(turns):
        role, text = turns[i]
        if role in _ANSWERS:
            out.append(RecordError("missing_question", f"turn {turn}: a gpt turn with no human turn before it"))
            i, turn = i + 1, turn + 1
            continue
        reply = turns[i + 1] if i + 1 < len(turns) and turns[i + 1][0] in _ANSWERS else None
        pair = {"question": text, "answer": reply[1] if reply else None}
        try:
            question, answer = F.question(pair), F.answer(pair)
        except RecordError as e:
            out.append(RecordError(e.reason, f"turn {turn}: {e.detail}"))
        else:
            meta = {**extra, "conversation_id": data["id"] if conv_id is not None else key, "turn": turn}
            if conv_id is not None:
                meta["source_id"] = data["id"]
            out.append(Draft(f"{conv_id or key}#{turn}", source, question, answer, images, {}, meta))
        i, turn = i + (2 if reply else 1), turn + 1
    if not out:
        raise RecordError("missing_question", "the conversation has no human turn")
    return out
