"""Loading the backend a model spec names (kept apart from :mod:`~finereason.models.spec`, which
backends import to parse specs, so that parsing and loading import no cycle)."""

from __future__ import annotations

import importlib
from typing import Any

from finereason.models.spec import BACKEND_MODULES, parse_spec
from finereason.models.types import Model


def load_model(spec: str, **opts: Any) -> Model:
    """Build the backend a spec names; ``opts`` go to that backend unchanged.

    The OpenAI-compatible backend is light and always available; the others are imported here,
    on first use, because they pull in torch or vLLM.
    """
    parsed = parse_spec(spec)
    if parsed.kind == "openai":
        from .openai_http import OpenAIModel

        if parsed.text_only:
            opts.setdefault("accepts_images", False)
        return OpenAIModel(parsed, **opts)
    module = importlib.import_module(BACKEND_MODULES[parsed.kind])
    return module.load(spec, **opts)
