"""The report's parts on their own: plots that degrade well, "none" for empty tables, the seeded
stratified pick, capped text, the funnel's folders and prices, and data that cannot inject markup."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image as PILImage

from finereason.errors import UserError
from finereason.report import html as report_html
from finereason.report.funnel import funnel, parse_prices
from finereason.report.samples import Pick, cap, choose, split_response, thumbnail
from finereason.report.stats import DatasetStats


def _axis_of(draw, values: list[float], monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """The x range of the plot ``draw(values)`` makes."""
    seen = {}
    real = report_html._png

    def grab(fig):
        seen["xlim"] = fig.axes[0].get_xlim()
        return real(fig)

    monkeypatch.setattr(report_html, "_png", grab)
    assert draw(values)
    return seen["xlim"]


def test_a_single_value_gets_an_axis_around_it(monkeypatch: pytest.MonkeyPatch) -> None:
    low, high = _axis_of(lambda v: report_html._hist(v, "words"), [250.0] * 7, monkeypatch)
    assert low < 250 < high and high - low <= 60  # not matplotlib's -0.4..0.4 around 0


def test_pass_rates_always_span_zero_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    low, high = _axis_of(report_html._pass_rates, [0.0, 0.0], monkeypatch)
    assert low <= 0 and high >= 1


def test_empty_inputs_say_none() -> None:
    page = report_html.render(DatasetStats(), "empty", [], Pick([], 0, 0, 200))
    # funnel, tokens, 5 plots, verdicts and flags tables
    assert page.count('<p class="none">none</p>') == 9
    assert "<img" not in page  # no empty plots drawn


def test_sample_data_cannot_close_the_script_element() -> None:
    row = {"id": "x", "question": "</script><script>alert(1)</script><!--", "flags": [], "images": []}
    page = report_html.render(DatasetStats(samples=1), "t", [], Pick([row], 1, 0, 200))
    data = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)[0]["question"] == row["question"]
    assert page.count("<script>alert(1)") == 0


def test_choose_is_seeded_and_covers_every_value_first() -> None:
    refs = [(0, i, {"source": "common", "verdict": "correct", "flags": []}) for i in range(1000)]
    refs += [(1, 0, {"source": "rare", "verdict": "incorrect", "flags": ["repetition"]})]
    picked = choose(refs, 10, seed=3)
    assert picked == choose(refs, 10, seed=3) != choose(refs, 10, seed=4)
    assert (1, 0) in picked and len(picked) == 10  # the one rare sample is always shown


def test_text_is_capped_saying_how_much_was_cut() -> None:
    assert cap("a" * 10, 4) == "aaaa… [6 more characters]" and cap("abc", 4) == "abc" and cap(None, 3) == ""


def test_think_block_is_split_from_the_answer() -> None:
    assert split_response("<think>\nlet me see\n</think>\n\nSo 4.") == ("let me see", "So 4.")
    assert split_response("<think>cut off while thinking") == ("cut off while thinking", "")
    assert split_response("No thinking. 4") == ("", "No thinking. 4")


def test_thumbnail_is_small_and_bad_bytes_give_none() -> None:
    buf = io.BytesIO()
    PILImage.new("RGB", (2000, 500), "red").save(buf, format="PNG")
    uri = thumbnail(buf.getvalue())
    small = PILImage.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert small.format == "JPEG" and max(small.size) == 240
    assert thumbnail(b"not an image") is None


def test_prices_parse_and_bad_ones_are_user_errors() -> None:
    assert parse_prices(["openai:m/x=0.3/1.5"]) == {"openai:m/x": (0.3, 1.5)}
    for bad in ["m=1", "=1/2", "m=a/b"]:
        with pytest.raises(UserError, match="MODEL=IN/OUT"):
            parse_prices([bad])


def test_funnel_finds_stage_folders_and_prices_tokens(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.json").write_text("{}")
    chain = [
        {"stage": "select", "records_in": 3, "records_out": 2, "rejected": {"x": 1}, "inputs": [str(tmp_path / "a")]},
        {"stage": "distill", "records_in": 3, "records_out": 3, "settings": {"teacher": "openai:m"},
         "stats": {"prompt_tokens": 1_000_000, "completion_tokens": 2_000_000}, "inputs": ["/moved/away"]},
    ]
    rows = funnel(str(tmp_path / "b"), chain, {"m": (1.0, 2.0)})
    assert [r.stage for r in rows] == ["distill", "select"]
    assert rows[0].folder == str(tmp_path / "a") and rows[0].cost_usd == 5.0 and rows[0].model == "openai:m"
    assert rows[1].folder == str(tmp_path / "b") and rows[1].examples == {}  # no rejected/ shards there
