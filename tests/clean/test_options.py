"""Options written in question text, in the layouts real sources use."""

from __future__ import annotations

import pytest

from finereason.clean.options import letter_for_text, parse_options


@pytest.mark.parametrize(
    ("question", "options"),
    [
        ("Which is largest? A. 3 B. 5 C. 4", ["3", "5", "4"]),
        ("What is the total? A.256; B.512; C.944; D.275", ["256", "512", "944", "275"]),
        ("Pick one: (A) red (B) blue (C) green", ["red", "blue", "green"]),
        ("Color?\nA: red\nB: blue", ["red", "blue"]),
        ("Which one?\nChoices:\nA. It eats another living thing.\nB. It makes its own food.\nAnswer with the letter.",
         ["It eats another living thing.", "It makes its own food."]),
        ("下列哪个是水果？A．苹果 B．石头 C．铁", ["苹果", "石头", "铁"]),
        ("选择：A、甲 B、乙", ["甲", "乙"]),
        ("Which? A) x+1 B) x-1", ["x+1", "x-1"]),
        ("**Options:**\n**A.** up\n**B.** down", ["up", "down"]),
        ("Energy could be ( ).  \nA. 80J\nB. 70J\nC. 60J\nD. 50J", ["80J", "70J", "60J", "50J"]),
        # A label "point A." before the real block: the later, longer run wins.
        ("Lines meet at point A. Which is AB? A. 3 B. 4 C. 5", ["3", "4", "5"]),
        ("Find $x$ if $\\frac{1}{x}=2$. (A) $\\frac{1}{2}$ (B) $2$", ["$\\frac{1}{2}$", "$2$"]),
    ],
)
def test_layouts(question: str, options: list[str]) -> None:
    parsed = parse_options(question)
    assert parsed is not None and parsed.texts == options
    assert parsed.letters == [chr(65 + i) for i in range(len(options))]


@pytest.mark.parametrize(
    "question",
    [
        "A certain type of vegetable is sold in three grades.",
        "In triangle ABC, find angle A.",
        "Which point, A or B, is higher?",
        "Only one option: A. 5",
        "f(A) and f(B) differ. C. is wrong",
        "Options:\nA.\nB.",  # markers without texts are labels, not options
    ],
)
def test_no_options(question: str) -> None:
    assert parse_options(question) is None


def test_mixed_marker_styles_are_not_one_run() -> None:
    assert parse_options("A. one (B) two C: three") is None


def test_block_position_covers_the_options() -> None:
    q = "Which?\nA. 1\nB. 2\nAnswer with the letter."
    parsed = parse_options(q)
    assert parsed is not None
    assert q[parsed.start:parsed.end] == "A. 1\nB. 2"


def test_release_questions(release_records: list[dict]) -> None:
    """Every release question whose answer is a letter and which lists options in text parses."""
    with_letters = 0
    for r in release_records:
        parsed = parse_options(r["question"])
        if r["source"] in ("FineVision-scienceqa", "GameQA-140K") and r["answer"].isalpha() and len(r["answer"]) == 1:
            assert parsed is not None, r["id"]
            assert ord(r["answer"]) - 65 < len(parsed.texts)
            with_letters += 1
        if r["source"] in ("FineVision-raven", "MMR1"):  # options are in the image / none at all
            assert parsed is None
    assert with_letters == 19


def test_letter_for_text() -> None:
    opts = ["Tetrahedron", "Hexahedron", "$944$", "70 J"]
    assert letter_for_text("hexahedron.", opts) == "B"
    assert letter_for_text("944", opts) == "C"
    assert letter_for_text("70  J", opts) == "D"
    assert letter_for_text("Cube", opts) is None
    assert letter_for_text("", opts) is None
    assert letter_for_text("same", ["same", "Same"]) is None  # ambiguous: no guess
