"""Cleaning: images, question text, options and answers by rules (:class:`CleanStage`), and the
LLM pass (:class:`LLMClean`) that translates, strips noise and drops non-answerable questions."""

from finereason.clean.answers import AnswerError, StandardAnswer, answer_type, standardize_answer
from finereason.clean.images import clean_image
from finereason.clean.options import ParsedOptions, letter_for_text, parse_options
from finereason.clean.stage import CleanStage
from finereason.clean.text import CleanedText, clean_question, normalize_whitespace

__all__ = [
    "AnswerError",
    "CleanStage",
    "CleanedText",
    "ParsedOptions",
    "StandardAnswer",
    "answer_type",
    "clean_image",
    "clean_question",
    "letter_for_text",
    "normalize_whitespace",
    "parse_options",
    "standardize_answer",
]
