"""RL prompt rows: verl's RLHF Parquet layout and a TRL GRPOTrainer dataset.

verl (``verl/utils/dataset/rl_dataset.py`` ``RLHFDataset``, read from its source): ``prompt`` is a
list of chat messages whose string content carries one ``<image>`` per entry of ``images`` (the
dataset splits on ``<image>`` to build content parts); ``images`` entries are dicts with ``bytes``
(``vision_utils.process_image`` opens them) or PIL images; ``extra_info["index"]`` is read as the
prompt index. Its reward managers pass ``data_source``, ``reward_model["ground_truth"]`` and
``extra_info`` to ``compute_score`` (``finereason.reward.compute_score`` reads ``answer_type``,
``options`` and ``question`` from it). EasyR1 reads the same layout.

TRL (``GRPOTrainer``): a conversational ``prompt`` with ``{"type": "image"}`` parts filled from the
``images`` column; every other column reaches the reward functions as a keyword list, so
``answer``, ``answer_type``, ``options`` and ``question`` are what :class:`finereason.reward.TrlReward`
reads.

A sample without a verifiable answer (no reference, or an ``open`` answer type) is rejected with
``no_verifiable_answer``: a rule-based reward could only ever give it 0.
"""

from __future__ import annotations

import hashlib
from typing import Any

from finereason.export.conversation import Conversation, ExportRejection, part_messages, tagged_messages
from finereason.export.media import hf_image
from finereason.reward.score import unverifiable_reason
from finereason.schema import Sample

RL_FORMATS = ("verl", "trl-rl")


def check_verifiable(sample: Sample) -> str:
    """The reference answer, or an :class:`ExportRejection` saying why the sample has none usable."""
    why = unverifiable_reason(sample.answer, sample.answer_type)
    if why is not None:
        raise ExportRejection("no_verifiable_answer", why)
    assert sample.answer is not None
    return sample.answer.strip()


def prompt_index(sample_id: str) -> int:
    """A stable 48-bit integer per sample for verl's ``extra_info.index`` (ids are content hashes)."""
    return int.from_bytes(hashlib.sha256(sample_id.encode()).digest()[:6], "big")


def verl_row(sample: Sample, conv: Conversation) -> dict[str, Any]:
    answer = check_verifiable(sample)
    return {
        "data_source": sample.source,
        "prompt": tagged_messages(conv, prompt_only=True),
        "images": [hf_image(im) for im in conv.images],
        "ability": (sample.domain or "unknown").lower(),
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {"index": prompt_index(sample.id), "id": sample.id, "answer_type": sample.answer_type,
                       "options": list(sample.options), "question": sample.question},
    }


def trl_rl_row(sample: Sample, conv: Conversation) -> dict[str, Any]:
    answer = check_verifiable(sample)
    return {
        "prompt": part_messages(conv, prompt_only=True),
        "images": [hf_image(im) for im in conv.images],
        "answer": answer,
        "answer_type": sample.answer_type,
        "options": list(sample.options),
        "question": sample.question,
        "id": sample.id,
        "source": sample.source,
    }
