"""Answers stated in prose: the leniency of an official LLM extractor, written as rules that abstain.

MathVista's scorer hands every reply to GPT-4 with a few-shot prompt ("The number missing in the
sequence is 14." → ``14``; "The correct answer is (B) 8/11." → ``B``), and VLMEvalKit (MMStar's
harness) first tries to infer a choice by exact matching (``can_infer_option`` / ``can_infer_text``)
before it asks an LLM. Both count as the model's answer things a strict "Answer: X" parser refuses:

* a number stated in a sentence ("there are a total of four objects left" → 4);
* a yes/no statement for a yes/no choice ("Periwinkle is not the maximum" → no);
* an option named by its text instead of its letter ("The wettest month is May." → May's letter);
* a letter cued in prose ("The correct option letter is C.", "选项A正确").

Each rule here decides only when the reply allows one reading and returns ``None`` otherwise, so
the item stays *unparsed* (or goes to ``--extractor``). Nothing is snapped to the closest option
(MathVista's edit-distance fallback; only ``eval --protocol official`` applies it, to what
:func:`stated_answer` reads) and no letter is drawn at random.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from finereason.evaluate.parsing import (
    MAX_REPLY_CHARS,
    TERMINAL_METHODS,
    Parsed,
    numbers_in,
    parse_choice,
    parse_number,
    visible_text,
)
from finereason.verify.extract import extract_answer

# ---------------------------------------------------------------------------------- numbers
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
NUMBER_WORDS: dict[str, int] = {**{w: i for i, w in enumerate(_UNITS)}, **_TENS}
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.I)
#: A sentence that announces its conclusion (the last such sentence of a worked reply holds the answer).
_CONCLUSION_RE = re.compile(
    r"\b(?:therefore|thus|hence|so|in total|in conclusion|finally|final (?:answer|value|result)"
    r"|the answer|the result)\b"
    r"|所以|因此|综上|答案", re.I)
#: A number right after a copula: the value the sentence asserts ("… is 400 ml", "there are 3 …").
_COPULA_NUMBER_RE = re.compile(
    r"(?:\b(?:is|are|was|were|equals?|be)\b|=|:|为|是)\s*"
    r"(?:about |approximately |around |roughly |a total of |only )?"
    r"([-−]?\$?\d[\d,]*(?:\.\d+)?)", re.I)
_SENTENCE_RE = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def digits_for_words(text: str) -> str:
    """English number words up to ninety as digits ("four objects" → "4 objects"), as a reader would."""
    return _NUMBER_WORD_RE.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()]), text)


def sentences(text: str) -> list[str]:
    """The reply split into sentences (a decimal point is not a sentence end: it has no space after it)."""
    return [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]


#: A function's argument ("f(0)", "p(1)"): notation, not a value the reply states.
_ARGUMENT_RE = re.compile(r"(?<=[A-Za-z])\([^()]*\)")


def _values(text: str) -> list[str]:
    return numbers_in(_ARGUMENT_RE.sub(" ", digits_for_words(text)).replace("$", ""))


#: Where a sentence's main statement ends and its justification begins ("…is 2, as there are …").
_JUSTIFICATION_RE = re.compile(r",?\s+\b(?:as|because|since|which|with|where|while)\b\s", re.I)


def _copula_number(sentence: str) -> str | None:
    """The value the sentence's statement lands on: the number after the last copula before any
    justification ("If AB = 8 and OB = 10, the diameter is 12" → 12; "is 2, as there are 5 …" → 2).
    None when that clause goes on to add another count ("There are 4 cars and 1 bus": the asked
    total is not written)."""
    text = digits_for_words(sentence)
    matches = list(_COPULA_NUMBER_RE.finditer(text))
    if not matches:
        return None
    cut = next((j.start() for j in _JUSTIFICATION_RE.finditer(text) if j.start() > matches[0].end()), len(text))
    m = [m for m in matches if m.start() < cut][-1]
    clause = text[m.end():cut].split(",")[0]
    if re.search(r"\band\s+\d", clause):
        return None
    found = numbers_in(m.group(1).replace("$", ""))
    return found[0] if found else None


def stated_number(visible: str) -> tuple[str, str] | None:
    """The number a prose reply states as its answer, and the rule that found it; None when unsure.

    1. ``stated``: every number in the reply has the same value ("The final value is 2.").
    2. ``conclusion``: the last sentence that announces a conclusion ("Therefore, …", "所以 …"):
       the number it lands on, else its last number ("So x = 20 - 15 = 5" → 5).
    3. ``first_sentence``: a reply that answers first: the number its first sentence lands on
       ("The age gap between the two people is 10 years." → 10).
    A refusal ("I cannot determine …"), a range or ratio where one value is asked ("1 to 7",
    "three out of four", "1:2"), or several numbers with no sentence that commits to one: None.
    """
    if is_refusal(visible):
        return None
    values = _values(visible)
    if not values:
        return None
    parts = sentences(visible)
    if len({float(v) for v in values}) == 1:
        return (values[-1], "stated") if not any(_RANGE_RE.search(digits_for_words(p)) for p in parts) else None
    for sentence in reversed(parts):
        if _CONCLUSION_RE.search(sentence) and _values(sentence):
            if _RANGE_RE.search(digits_for_words(sentence)):
                return None
            return (_copula_number(sentence) or _values(sentence)[-1]), "conclusion"
    first = _copula_number(parts[0]) if parts and not _RANGE_RE.search(digits_for_words(parts[0])) else None
    return (first, "first_sentence") if first is not None else None


#: Two numbers read as one range, ratio or fraction: "1 to 7", "13-18", "1:2", "3 out of 4", "3/4".
_RANGE_RE = re.compile(r"\d\s*(?:-|–|—|:|/|\bto\b|\bout of\b)\s*\d", re.I)
_REFUSAL_RE = re.compile(
    r"\b(?:cannot|can't|can not|unable to|not possible to|impossible to|not enough information|"
    r"insufficient information|(?:need|requires?) (?:more|additional) information|(?:does|do) not provide|"
    r"doesn't provide|(?:is|are) not provided|without (?:any )?(?:additional |more )?(?:information|context))\b"
    r"|无法|不能确定", re.I)


def is_refusal(visible: str) -> bool:
    """The reply opens or closes by saying it cannot answer ("Without more information, …")."""
    parts = sentences(visible)
    return bool(parts) and bool(_REFUSAL_RE.search(parts[0]) or _REFUSAL_RE.search(parts[-1]))


# ---------------------------------------------------------------------------------- choices
# Spans between a cue word and its letter or answer are bounded (200/300 characters): unbounded
# lazy spans make "answer answer answer …" quadratic, and no real cue is that far from its answer.

_LETTER_CUES = (
    r"\(([A-Z])\)",                                                        # (C)
    r"(?:^|\s)([A-Z])\)",                                                  # C) Serrulate
    r"\b(?:option|choice|letter|answer)(?:\s+letter)?(?:\s+is|:)?\s+\(?([A-Z])\b(?![\w'])",  # option letter is C
    r"\b(?:option|choice|answer)\b[^.\n]{0,200}?\b(?:is|would be|should be|must be)\s+[\"'“]?\(?([A-Z])\)?"
    r"(?=[\"'”]?\s*(?:[.,;:]|$))",  # answer … is "C.", the option letter would be D.
    r"(?:选项|选择|答案是?|答案为|选)\s*[:：为是]?\s*[（(]?([A-Z])(?![A-Za-z])",  # 选项A, 答案为(C)
)
_LETTER_CUE_RE = re.compile("|".join(_LETTER_CUES))


def cued_letters(visible: str) -> list[str]:
    """Capital letters a reply cues as an option ("(C)", "C)", "option letter is C", "选项C"), in order."""
    return [next(g for g in m.groups() if g) for m in _LETTER_CUE_RE.finditer(visible)]


def cued_choice(visible: str, options: Mapping[str, str]) -> tuple[str | None, bool]:
    """``(letter, cued)``: the one option letter the reply cues, and whether it cues any letter at all.

    A reply cueing a letter that is not an option ("(E) 137" with four options) or several
    different letters (an echo of the choices list) is ``(None, True)``: it names letters, just not
    one usable one, so no other rule should read it either.
    """
    found = list(dict.fromkeys(cued_letters(visible)))
    if not found:
        return None, False
    if len(found) == 1 and found[0] in options:
        return found[0], True
    return None, True


_NEGATION_RE = re.compile(r"\b(?:not|no|never|neither|nor|none|nothing|cannot|false)\b|n't\b", re.I)
_CLAIM_MAX_WORDS = 100
_YES_NO_RE = re.compile(r"^\W*(yes|no)\b", re.I)


def yes_no_choice(visible: str, options: Mapping[str, str]) -> str | None:
    """For a yes/no choice: the letter of the answer a statement makes, or None.

    "Yes, …"/"No, …" decide by their first word. Otherwise the first sentence is read as a claim
    about the question's proposition: with a negation ("Periwinkle is not the maximum") it says no,
    as a plain declarative restatement ("There are fewer metallic fighters than rubber objects.")
    it says yes. A question back, a refusal, or a first "sentence" that is no short claim (under two
    words, or a run-on past :data:`_CLAIM_MAX_WORDS`, as in a degenerate repetition) says nothing.
    """
    by_text = {text.strip().lower(): letter for letter, text in options.items()}
    if set(by_text) != {"yes", "no"}:
        return None
    m = _YES_NO_RE.match(visible)
    if m:
        return by_text[m.group(1).lower()]
    parts = sentences(visible)
    if not parts or parts[0].endswith("?") or is_refusal(visible):
        return None
    if not 2 <= len(re.findall(r"[^\W\d_]{2,}", parts[0])) <= _CLAIM_MAX_WORDS:
        return None
    return by_text["no" if _NEGATION_RE.search(parts[0]) else "yes"]


_PLURAL_RE = re.compile(r"\b([a-z]{3,})s\b(?<!ss)")


def _plain(text: str) -> str:
    """Lower case without TeX grouping braces or hyphens, plurals folded: "2√{3}" is "2√3",
    "PDE-Refiner" is "PDE Refiner", "grasshoppers" names "Grasshopper", "Superior lobes" is "superior lobe"."""
    text = text.replace("{", "").replace("}", "").replace("-", " ").lower()
    return _PLURAL_RE.sub(r"\1", text)


def _option_pattern(option: str) -> str | None:
    core = _plain(option).strip().strip(".").strip()
    if not core:
        return None
    left = r"(?<![\w.])" if core[0].isalnum() else ""
    right = r"(?![\w]|\.\d)" if core[-1].isalnum() else ""
    return left + re.escape(core) + right


def named_option(visible: str, options: Mapping[str, str]) -> str | None:
    """The one option whose text the reply names (VLMEvalKit's ``can_infer_text``, on word bounds).

    An option counts when its text occurs as whole words ("6" does not occur in "16" or "6.5");
    an occurrence inside another named option's occurrence does not count ("increase" inside "would
    increase"). A sentence "the answer is …" that names one decides ('The correct answer is "soup."').
    Several named: the reply's last sentence that names any decides, when it names one
    ("… CD is 2. Therefore, the value is 2√3." → 2√3). A sentence's opening condition ("If pelicans
    increase, …") restates the question and is not read. A refusal names nothing.
    """
    if is_refusal(visible):
        return None
    visible = _CONDITION_RE.sub("", visible)
    for m in _ANSWER_TAIL_RE.finditer(visible):
        in_answer = _named(_plain(m.group(1)), options)
        if len(in_answer) == 1:
            return in_answer[0]
    named = _named(_plain(visible), options)
    if len(named) > 1:
        for sentence in reversed(sentences(_plain(visible))):
            in_sentence = _named(sentence, options)
            if in_sentence:
                named = in_sentence
                break
    return named[0] if len(named) == 1 else None


#: A sentence's opening condition ("If pelicans increase, …"): it restates the question, the answer follows.
_CONDITION_RE = re.compile(r"(?:^|(?<=[.!?\n]))\s*(?:if|when|assuming)\b[^,.\n]{0,200},", re.I)
_ANSWER_TAIL_RE = re.compile(
    r"\b(?:answer|option|choice)\b[^.\n]{0,200}?\b(?:is|would be|:)\s+([^\n]{0,300}?)(?:[.!?][\"'”]?(?:\s|$)|$)", re.I)


def _named(text: str, options: Mapping[str, str]) -> list[str]:
    found: dict[str, list[tuple[int, int]]] = {}
    for letter, option in options.items():
        pattern = _option_pattern(option)
        if pattern is not None:
            spans = [m.span() for m in re.finditer(pattern, text)]
            if spans:
                found[letter] = spans
    return [
        letter for letter, spans in found.items()
        if any(not any(o != letter and s0 <= a and b <= s1 and (s0, s1) != (a, b)
                       for o, others in found.items() for s0, s1 in others)
               for a, b in spans)
    ]


_OPTION_VALUE_RE = re.compile(r"\s*([-−]?\d+(?:\.\d+)?)\s*(?:°|%|度|米|cm|m|km|kg|g|s|ml|l)?\s*", re.I)


def option_values(options: Mapping[str, str]) -> dict[str, float] | None:
    """Each option's value when every option is a number with at most a unit ("130°"), else None."""
    values: dict[str, float] = {}
    for letter, option in options.items():
        m = _OPTION_VALUE_RE.fullmatch(option)
        if m is None:
            return None
        values[letter] = float(m.group(1).replace("−", "-"))
    return values


def valued_option(visible: str, options: Mapping[str, str]) -> str | None:
    """When every option is a number (with at most a unit), the option equal to the number the reply
    states (:func:`stated_number`): "x = 130.0" chooses "130°". None when no option or several match."""
    values = option_values(options)
    if values is None:
        return None
    stated = stated_number(visible)
    if stated is None:
        return None
    matches = [letter for letter, value in values.items() if value == float(stated[0])]
    return matches[0] if len(matches) == 1 else None


# ---------------------------------------------------------------------------------- cascades
#: The prose rules by name; a benchmark (or bench/agreement.py's leave-one-model-out) may switch some off.
PROSE_RULES = frozenset({"cued_letter", "yes_no", "option_text", "option_value", "stated_number"})


def read_choice(response: str, options: Mapping[str, str], *, rules: frozenset[str] = PROSE_RULES) -> Parsed:
    """The option a reply chooses: an explicit answer first, then the prose rules above, in order.

    ``cued_letter`` (one letter cued), ``yes_no`` (a statement for a yes/no choice, as MathVista's
    extractor reads it), ``option_text`` (one option named), ``option_value`` (for numeric options,
    the one equal to the number the reply states). A reply that cues letters but no single valid one stops the cascade
    (``ambiguous_letters``): it named letters, just not a usable one.
    """
    parsed = parse_choice(response, options)
    if parsed.value is not None or parsed.method in TERMINAL_METHODS:
        return parsed
    visible = visible_text(response) or ""
    letter, cued = cued_choice(visible, options)
    if cued and letter is None:  # a guard, whichever rules are on: an echo of choices is no statement
        return Parsed(None, "ambiguous_letters")
    if letter is not None and "cued_letter" in rules:
        return Parsed(letter, "cued_letter")
    if "yes_no" in rules:
        letter = yes_no_choice(visible, options)
        if letter is not None:
            return Parsed(letter, "yes_no")
    if "option_text" in rules:
        letter = named_option(visible, options)
        if letter is not None:
            return Parsed(letter, "option_text")
    if "option_value" in rules:
        letter = valued_option(visible, options)
        if letter is not None:
            return Parsed(letter, "option_value")
    return Parsed(None, "none")


def stated_answer(response: str, options: Mapping[str, str], *, rules: frozenset[str] = PROSE_RULES) -> Parsed:
    """What a reply that chooses no option (:func:`read_choice` abstained) states as its answer
    anyway, as text: MathVista's official protocol snaps such an extraction to the nearest choice.

    In order: the one letter it cues that is no option ("(E) 137" with four options → ``E``; the
    official normalisation reads "(E) …" the same way); the text of its explicit answer marker
    ("Answer: 7"); for numeric options, the number it states ("x = 8" → ``8``). A reply that cues
    several letters (an echo of the choices list), or that none of these reads, states nothing.
    """
    visible = visible_text(response) if len(response) <= MAX_REPLY_CHARS else None
    if visible is None:
        return Parsed(None, "none")
    letters = list(dict.fromkeys(cued_letters(visible)))
    if len(letters) > 1:
        return Parsed(None, "ambiguous_letters")
    if letters and "cued_letter" in rules:
        return Parsed(letters[0], "cued_letter")
    found = extract_answer(visible)
    if found is not None:
        return Parsed(found.text, found.method)
    if "option_value" in rules and option_values(options) is not None:
        stated = stated_number(visible)
        if stated is not None:
            return Parsed(*stated)
    return Parsed(None, "none")


def read_number(response: str, *, rules: frozenset[str] = PROSE_RULES) -> Parsed:
    """The numeric answer: an explicit answer or a bare number first, then :func:`stated_number`."""
    parsed = parse_number(response)
    if parsed.value is not None or parsed.method in TERMINAL_METHODS or "stated_number" not in rules:
        return parsed
    stated = stated_number(visible_text(response) or "")
    return Parsed(*stated) if stated else parsed
