"""Prose rules (finereason.evaluate.statements), each from a real reply the strict parser refused or misread.

The replies are quoted from the MathVista development set (../shared/fixtures/mathvista-dev), with
the model and pid they come from; the expected reading is the official GPT-4 extraction's.
"""

from __future__ import annotations

from finereason.evaluate.statements import (
    cued_choice,
    digits_for_words,
    is_refusal,
    named_option,
    read_choice,
    read_number,
    stated_number,
    valued_option,
    yes_no_choice,
)

YES_NO = {"A": "Yes", "B": "No"}
yes_no_lower = {"A": "yes", "B": "no"}


def test_number_stated_in_a_sentence():
    # llavar 183: strict parsing said "no number found"
    assert read_number("After removing all brown cubes and gray cylinders, there are a total of four objects "
                       "left on the table.").value == "4"
    assert stated_number("The highest amount this class measures is 400 ml.") == ("400", "stated")  # llama 19
    assert digits_for_words("There are two sequences") == "There are 2 sequences"


def test_number_after_the_copula_of_an_answer_first_reply():
    # llama_adapter_v2 313 and 794: the question's "two people" and "larger than 4" are not the answer
    assert stated_number("The age gap between the two people in the image is 10 years.") == ("10", "first_sentence")
    assert stated_number("There are 2 bars with values larger than 4.") == ("2", "first_sentence")


def test_number_of_the_conclusion_sentence():
    # llama_adapter_v2 16: the answer sentence wins over "less than 5 units"
    assert stated_number("The answer to the question is 2, as there are two stores where items sold less "
                         "than 5 units.") == ("2", "conclusion")


def test_numbers_that_do_not_commit_abstain():
    # llavar 589 (official total 5 is not written), llama 978 (a range), llavar 104 (a fraction), 546 (a ratio)
    assert stated_number("There are four little toy cars and one small toy bus.") is None
    assert stated_number("The range of the numbers is 1 to 7.") is None
    assert stated_number("So, the fraction of females facing the camera is three out of four, or 75%.") is None
    assert stated_number("The overall ratio of male to female is 1:2.") is None
    assert stated_number("The model has 4 dots divided into 2 equal groups, with 2 dots in each group.") is None


def test_refusals_state_nothing():
    # chatgpt 830 and 611: "two people" and "56 boxes" are the question's words, not answers
    refusal = ("Unfortunately, as an AI language model, I cannot directly see or analyze images. Therefore, I am "
               "unable to determine the age gap between the two people in the image.")
    assert is_refusal(refusal) and read_number(refusal).value is None
    assert read_number("To determine the number of shipments that had exactly 56 boxes, we need more "
                       "information.").value is None


def test_yes_no_statement_maps_to_the_choice():
    # llavar 24 (the example), llama 24, llavar 12, llavar 997
    assert read_choice("Periwinkle is not the maximum. The maximum value is 100.", yes_no_lower).value == "B"
    assert yes_no_choice("No, Periwinkle is not the maximum.", yes_no_lower) == "B"
    assert yes_no_choice("Yes, the number of tiny gray bicycles is greater.", YES_NO) == "A"
    assert yes_no_choice("There are fewer metallic fighters than rubber objects.", YES_NO) == "A"
    assert yes_no_choice('The statement "kx^2/2 larger than E at x=0" is false.', YES_NO) == "B"


def test_yes_no_abstains_on_questions_refusals_and_other_choices():
    assert yes_no_choice("Is Salmon the roughest?", yes_no_lower) is None  # llavar 357
    assert yes_no_choice("The image does not provide enough information to determine the correct answer to "
                         "the question.", YES_NO) is None  # llavar 657
    assert yes_no_choice("The function is odd.", {"A": "odd", "B": "even"}) is None  # not a yes/no choice


def test_option_named_by_its_text():
    # llavar 43 and 46-like replies, chatgpt 50; "6" is not read inside "16" or "6.5"
    assert named_option("The wettest month on average in Christchurch is May.",
                        {"A": "August", "B": "April", "C": "May"}) == "C"
    assert named_option("The length of segment AB is 6.", {"A": "3", "B": "5", "C": "6", "D": "7"}) == "C"
    assert named_option("It is 16 or 6.5.", {"A": "6", "B": "7"}) is None
    # llavar 492: several named, the last sentence decides; braces do not matter
    assert named_option("the length of the line segment CD is 2. Therefore, the value of (CD) is 2√3.",
                        {"A": "1", "B": "√{3}", "C": "2", "D": "2√{3}"}) == "D"
    # llavar 470: hyphens do not matter
    assert named_option("The PDE Refiner has the lowest KS Rollout Loss overall.",
                        {"A": "Baseline", "B": "Diffusion", "C": "PDE-Refiner", "D": "Pushforward"}) == "C"


def test_numeric_option_by_value():
    # llavar 355: "x = 130.0" chooses "130°"
    reply = "x + 50.0 = 180.0\nx = 130.0\nTherefore, the degree of the other angle is 130.0."
    assert valued_option(reply, {"A": "150°", "B": "130°", "C": "110°", "D": "100°"}) == "B"


def test_cued_letters():
    four = {"A": "50°", "B": "60°", "C": "70°", "D": "80°"}
    assert read_choice("The correct option letter is (D) 80°.", four).value == "D"  # llavar 95
    assert read_choice("The correct option letter is C.", four).value == "C"  # llavar 160
    assert read_choice("The correct option letter for the year 2003 is C. Canola was the most expensive crop.",
                       {"A": "potatoes", "B": "peas", "C": "apples", "D": "canola"}).value == "C"  # llavar 312
    assert read_choice("所以，∠3 = 55°，选项A正确。", four).value == "A"  # chatgpt 149
    # instruct_blip2 5 and 24: a letter that is no option, or an echo of the choices, is no answer
    assert cued_choice("(E) 137", four) == (None, True)
    assert read_choice("(C) yes\n(D) no", yes_no_lower).method == "ambiguous_letters"


def test_no_guess_on_an_empty_reply():
    # instruct_blip2 7: the official scorer snaps "" to the closest choice; here it stays unparsed
    assert read_choice("", {"A": "half", "B": "quarter"}).value is None
    assert read_number("").value is None


def test_number_the_statement_lands_on():
    # llavar 642 and 316: a condition's numbers come first, the statement's value last
    assert stated_number("If AB = 8 and OB = 10, the diameter of the circle is 12.") == ("12", "first_sentence")
    assert stated_number("Since the given angles are AOB = 100.0 and BAC = 80.0, we can deduce that the degree "
                         "of angle AAC is 50.0.") == ("50.0", "first_sentence")
    # llama_adapter_v2 777: a worked sum lands on its result
    assert valued_option("The perimeter of $LMPQ$ is 10 + 10 + 10 + 10 = 40.",
                         {"A": "10", "B": "40", "C": "70", "D": "140"}) == "B"


def test_final_value_line_and_function_arguments():
    # chatgpt 435: "Final value: 2" closes a worked reply whose "Therefore" sentence ends on "1"
    reply = ("Simplifying further, we get:\nn > 1\n\nTherefore, the number of years is greater than 1.\n\n"
             "Final value: 2")
    assert stated_number(reply) == ("2", "conclusion")
    # chatgpt 942: "f(0)" is notation; the reply states no value
    assert stated_number("To determine the value of f(0), we need to know the definition of the function f. "
                         "Therefore, the answer is undefined.") is None


def test_option_text_plural_and_answer_sentence():
    # llavar 732 and 826: "grasshoppers" names "Grasshopper", "superior lobe" names "Superior lobes"
    assert named_option("If there was a shortage of plants, grasshoppers would be most affected.",
                        {"A": "Grasshopper", "B": "Snake", "C": "Mouse", "D": "Hawk"}) == "A"
    assert named_option("The largest part of the lung is the superior lobe.",
                        {"A": "Inferior lobes", "B": "Cardiac notch", "C": "Superior lobes", "D": "Middle lobe"}) == "C"
    # llama_adapter_v2 140: the answer sentence decides though the explanation names the other options
    assert named_option('The correct answer is "soup." Soup typically contains very few carbs, if any, compared '
                        'to other foods like sandwiches, buns, or water.',
                        {"A": "soup", "B": "water", "C": "sandwich", "D": "buns"}) == "A"


def test_mmstar_reads_as_vlmevalkit_exact_matching():
    """MMStar: a cued letter or one named option counts (VLMEvalKit's can_infer_option / can_infer_text);
    a yes/no statement is not read (no such rule in VLMEvalKit); nothing is guessed."""
    from finereason.evaluate.benchmarks.mmstar import BENCHMARK as MMSTAR
    from finereason.evaluate.items import EvalItem

    item = EvalItem(id="1", question="Which month is the wettest?", answer="C",
                    options={"A": "August", "B": "April", "C": "May"})
    assert MMSTAR.score(item, "The correct option letter is C.").verdict == "correct"  # llavar 160's wording
    assert MMSTAR.score(item, "The wettest month on average in Christchurch is May.").pred == "C"  # llavar 43
    assert MMSTAR.score(item, "(E) June").verdict == "unparsed"  # instruct_blip2 43: E is no option
    yes_no = EvalItem(id="2", question="Is Periwinkle the maximum?", answer="B", options={"A": "yes", "B": "no"})
    assert MMSTAR.score(yes_no, "Periwinkle is not the maximum.").verdict == "unparsed"


def test_bad_replies_get_a_verdict_and_the_run_goes_on():
    """A 10 MB reply is not read (``too_long``); braces 10,000 deep and a cue word repeated without
    end are read to a verdict (the cue spans are bounded, so no pattern runs away)."""
    from finereason.evaluate.benchmarks.mathvista import BENCHMARK as MATHVISTA
    from finereason.evaluate.benchmarks.mmmu import BENCHMARK as MMMU
    from finereason.evaluate.items import EvalItem

    choice = EvalItem(id="1", question="q", answer="5", options={"A": "3", "B": "5"})
    number = EvalItem(id="2", question="q", answer="5", question_type="open", answer_type="integer")
    huge = "1 " * 5_000_000
    for item in (choice, number):
        score = MATHVISTA.score(item, huge)
        assert (score.verdict, score.method) == ("unparsed", "too_long") and "characters" in score.detail
    assert MMMU.score(EvalItem(id="validation_Math_1", question="q", answer="5", question_type="open"),
                      huge).method == "too_long"
    nested = "{" * 10_000 + "5" + "}" * 10_000
    assert MATHVISTA.score(number, nested).verdict in ("correct", "unparsed")
    spam = "the answer " * 9_000
    assert MATHVISTA.score(choice, spam).verdict == "unparsed"
    assert read_choice(spam, YES_NO).value is None  # a 9,000-word run-on is no claim: not an affirmation


def test_opening_condition_is_not_the_answer():
    # llavar 76: "If pelicans increase" restates the question; the consequence names the answer
    assert named_option("If pelicans increase, secondary consumer fish and lizard populations may decrease.",
                        {"A": "decrease", "B": "nothing", "C": "increase", "D": "none of the above"}) == "A"
