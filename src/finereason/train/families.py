"""What training needs to know about each VLM family, and finding its parts inside a loaded model.

A recipe names a family (or lets it be inferred from the checkpoint's ``config.json`` or its
name) so that everything family-specific is decided before any weight is loaded: which modules
are the vision tower and the projector, whether rows can be packed, and what LLaMA-Factory and
ms-swift call the model.

Module lookup matches *path components*, not full paths: ``visual.merger`` is found whether the
model prints it as ``model.visual.merger`` (transformers 5), ``visual.merger`` (4.x) or
``base_model.model.model.visual.merger`` (under PEFT). Every parameter lands in exactly one group,
and a group the recipe wants to freeze that matches nothing is an error, never a silent no-op.

Packing (several samples in one row, attention kept within each sample through position ids
that restart per sample) needs a family-specific merge of the vision inputs and of the position
ids, so it is supported for the families listed here and refused for ``other``:

=============  ===================================  ==============  ========================
family         vision tower / projector             packing         LLaMA-Factory / ms-swift
=============  ===================================  ==============  ========================
idefics3       ``vision_model`` / ``connector``     yes (1-D pos.)  (none) / ``idefics3``
qwen2_vl       ``visual`` / ``visual.merger``       yes (M-RoPE)    ``qwen2_vl`` / ``qwen2_vl``
qwen2_5_vl     ``visual`` / ``visual.merger``       yes (M-RoPE)    ``qwen2_vl`` / ``qwen2_5_vl``
qwen3_vl       ``visual`` / ``visual.merger`` and   yes (M-RoPE)    ``qwen3_vl`` / ``qwen3_vl``
               ``visual.deepstack_merger_list``
other          common names (``vision_tower``, …)   no              (none) / (auto)
=============  ===================================  ==============  ========================

LLaMA-Factory 0.9.5 has no SmolVLM/Idefics3 template (``src/llamafactory/data/template.py``), so
``export-config --to llamafactory`` refuses that family rather than write a config that fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finereason.errors import UserError

GROUPS = ("vision_tower", "projector", "language_model")


class FamilyError(UserError):
    """A model whose family cannot be told, or whose parts cannot be found."""


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    #: Regexes over a hub id or folder name, for when no config.json can be read without a download.
    name_patterns: tuple[str, ...]
    #: Path components (dotted for nested ones) that mark each group; projector is checked first.
    vision_tower: tuple[str, ...]
    projector: tuple[str, ...]
    can_pack: bool
    llamafactory_template: str | None
    swift_model_type: str | None


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("idefics3", ("idefics3", "smolvlm"), (r"smolvlm", r"idefics3"),
               ("vision_model",), ("connector",), True, None, "idefics3"),
        Family("qwen2_vl", ("qwen2_vl",), (r"qwen2[-_]vl",),
               ("visual",), ("visual.merger",), True, "qwen2_vl", "qwen2_vl"),
        Family("qwen2_5_vl", ("qwen2_5_vl",), (r"qwen2\.?5[-_]vl", r"qwen2_5_vl"),
               ("visual",), ("visual.merger",), True, "qwen2_vl", "qwen2_5_vl"),
        Family("qwen3_vl", ("qwen3_vl",), (r"qwen3[-_]vl",),
               ("visual",), ("visual.merger", "visual.deepstack_merger_list"), True, "qwen3_vl", "qwen3_vl"),
        Family("other", (), (),
               ("vision_tower", "vision_model", "visual", "vision_encoder", "image_encoder"),
               ("multi_modal_projector", "mm_projector", "connector", "merger", "aligner", "projector"),
               False, None, None),
    )
}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise FamilyError(f"unknown family {name!r}; choose one of {', '.join(FAMILIES)}") from None


def _config_model_type(path: Path) -> str | None:
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def detect_family(name_or_path: str) -> Family:
    """The family of a checkpoint from its local ``config.json``, else from its name; reads no weights."""
    model_type = _config_model_type(Path(name_or_path).expanduser())
    if model_type is not None:
        for family in FAMILIES.values():
            if model_type in family.model_types:
                return family
        return FAMILIES["other"]
    lowered = name_or_path.lower()
    for family in FAMILIES.values():
        if any(re.search(p, lowered) for p in family.name_patterns):
            return family
    raise FamilyError(
        f"cannot tell the family of {name_or_path!r} (no local config.json, and the name matches none of "
        f"{', '.join(n for n in FAMILIES if n != 'other')}); set model.family"
    )


def _has_path(components: list[str], dotted: str) -> bool:
    want = dotted.split(".")
    return any(components[i:i + len(want)] == want for i in range(len(components) - len(want) + 1))


def group_of(param_name: str, family: Family) -> str:
    """``vision_tower``, ``projector`` or ``language_model`` (everything else: text model, embeddings, head)."""
    parts = param_name.split(".")
    if any(_has_path(parts, p) for p in family.projector):
        return "projector"
    if any(_has_path(parts, p) for p in family.vision_tower):
        return "vision_tower"
    return "language_model"


def freeze(model: Any, family: Family, frozen: set[str]) -> dict[str, int]:
    """Turn off gradients for the named groups; return trainable parameter counts per group."""
    trainable = {g: 0 for g in GROUPS}
    for name, param in model.named_parameters():
        group = group_of(name, family)
        if group in frozen:
            param.requires_grad_(False)
        elif param.requires_grad:
            trainable[group] += param.numel()
    return trainable


def linear_module_names(model: Any, family: Family, groups: set[str]) -> list[str]:
    """Full names of the ``nn.Linear`` layers inside ``groups`` (LoRA targets), the output head excluded.

    Exact names rather than PEFT's ``all-linear``: that would also put adapters on a frozen
    vision tower, which then trains after all.
    """
    import torch

    head = getattr(model, "get_output_embeddings", lambda: None)()
    names = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head and group_of(name, family) in groups:
            names.append(name)
    return names


def projector_module_names(model: Any, family: Family) -> list[str]:
    """Top-most modules of the projector group (trained whole, as ``modules_to_save``, under LoRA).

    Containers (Qwen3-VL's ``deepstack_merger_list`` is a ``ModuleList``) are replaced by their
    children, which PEFT can wrap.
    """
    import torch

    containers = (torch.nn.ModuleList, torch.nn.ModuleDict)
    found: list[str] = []
    for name, module in model.named_modules():
        if not name or group_of(name, family) != "projector" or isinstance(module, containers):
            continue
        if not any(name.startswith(f + ".") for f in found):
            found.append(name)
    return found
