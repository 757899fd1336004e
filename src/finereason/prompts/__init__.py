"""Versioned prompt templates (``*.txt`` beside this file) and :func:`load_prompt`; see :mod:`.loader`."""

from finereason.prompts.loader import TEMPLATE_DIR, Prompt, PromptError, available, load_prompt, parse_prompt

__all__ = ["Prompt", "PromptError", "available", "load_prompt", "parse_prompt", "TEMPLATE_DIR"]
