"""report.html in a real headless browser (Debian's Chromium, driven by Playwright): the page loads
with no console errors, the thumbnails render, the filters change what is shown, the funnel shows
rejected samples by reason, and the size stays bounded on a 10k-sample dataset.

Datasets are made for real: a demo-like chain over the 70 real release records (ingest → clean →
dedup → verify → difficulty → select, the student being the fake server, two of whose requests
fail with a 400), and ``finereason synth --n 10000``. A screenshot of each page is kept under runs/test-artifacts/
(ignored by git) as the artifact of the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from servers.fake_openai import FakeServer
from servers.fault_proxy import FaultProxy

from fixture_dir import FIXTURE_DIR

from finereason.cli import main

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency (pyproject [dev])")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/setup.sh test installs Debian's)")
ARTIFACTS = Path(__file__).resolve().parents[2] / "runs" / "test-artifacts"


def _run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory, bg) -> Path:
    """The 70 real release records through ingest → clean → dedup → verify → difficulty → select.

    The release's responses give real verdicts of several kinds; the student is the fake server
    (pass rates of 0), two of whose requests fail with a 400, so the funnel has failures too.
    """
    root = tmp_path_factory.mktemp("demo")
    server = FakeServer(reply_tokens=30, reply_bytes=400)
    proxy = FaultProxy("127.0.0.1", bg.run(server.start()))
    url = f"http://127.0.0.1:{bg.run(proxy.start())}/v1"
    proxy.faults.extend(["400", "400"])
    try:
        _run("ingest", str(FIXTURE_DIR), "--format", "auto", "--workers", "1", "--out", str(root / "raw"))
        _run("clean", str(root / "raw"), "--workers", "1", "--out", str(root / "c"))
        _run("dedup", str(root / "c"), "--workers", "1", "--out", str(root / "d"))
        _run("verify", str(root / "d"), "--workers", "1", "--out", str(root / "v"))
        _run("difficulty", str(root / "v"), "--student", f"openai:fake-model@{url}", "--k", "2",
             "--max-tokens", "10", "--out", str(root / "k"))
        _run("select", str(root / "k"), "--verdict", "any", "--drop-flags", "", "--cap-per-source", "8",
             "--out", str(root / "sel"))
    finally:
        bg.run(proxy.close())
        bg.run(server.close())
    _run("report", str(root / "sel"), "--price", "openai:fake-model=1/2")
    return root / "sel" / "report.html"


@pytest.fixture(scope="module")
def synth_10k(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("synth10k") / "synth"
    _run("synth", "--n", "10000", "--seed", "0", "--workers", "2", "--out", str(data))
    _run("report", str(data))
    return data / "report.html"


@pytest.fixture
def browser():
    """Chromium per test, started after the datasets: Playwright's sync API holds an event loop."""
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _open(browser, path: Path):
    page = browser.new_page(viewport={"width": 1200, "height": 1800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors


def _shown(page) -> list[dict]:
    return page.eval_on_selector_all(".card", """cards => cards.map(c => ({
        id: c.dataset.id, text: c.querySelector('.head').textContent,
        thumbs: [...c.querySelectorAll('.thumbs img')].map(i => i.complete && i.naturalWidth > 0)}))""")


def _options(page, select: str) -> list[str]:
    return page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.value)")


def test_demo_like_report_in_a_browser(demo_like: Path, browser) -> None:
    page, errors = _open(browser, demo_like)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-demo-like.png"), full_page=True)
    cards = _shown(page)
    assert errors == [] and cards
    assert all(c["thumbs"] and all(c["thumbs"]) for c in cards)  # every synthetic image rendered
    # The response's think block is collapsed, with its length in the summary.
    summary = page.locator(".card details summary").first
    assert summary.text_content().startswith("reasoning (") and not page.locator(".card details").first.get_attribute("open")
    # Every filter narrows to what it names.
    verdicts = [v for v in _options(page, "#f-verdict") if v != "(all)"]
    assert len(verdicts) >= 2
    page.select_option("#f-verdict", verdicts[-1])
    narrowed = _shown(page)
    assert 0 < len(narrowed) and all(verdicts[-1] in c["text"] for c in narrowed)
    assert {c["id"] for c in narrowed} != {c["id"] for c in cards}
    assert f"verdict={verdicts[-1]}" in page.url  # a filtered view is a link
    page.select_option("#f-verdict", "(all)")
    sources = [v for v in _options(page, "#f-source") if v != "(all)"]
    page.select_option("#f-source", sources[0])
    by_source = _shown(page)
    assert by_source and all(sources[0] in c["text"] for c in by_source) and len(by_source) <= 8
    page.select_option("#f-source", "(all)")
    page.select_option("#f-pass", "not scored")
    assert page.locator("#samples .none").text_content().startswith("none")  # all were scored
    page.select_option("#f-pass", "(all)")
    flags = [v for v in _options(page, "#f-flag") if v != "(all)"]
    page.select_option("#f-flag", flags[0])
    assert all(flags[0] in c["text"] or flags[0] == "no flags" for c in _shown(page))
    # The funnel: stages with their rejections, and rejected samples for each reason.
    funnel = page.locator("table.funnel").text_content()
    for stage in ("ingest", "clean", "dedup", "verify", "difficulty", "select"):
        assert stage in funnel
    assert "request_failed:http_400: 2" in funnel and "over_cap_source" in funnel
    failed = page.locator("details.rejected", has_text="request_failed:http_400")
    assert failed.locator("li").count() == 2 and "injected 400" in failed.text_content()
    assert page.locator("details.rejected", has_text="over_cap_source").locator("li").count() == 3
    tokens = page.locator("#tokens + table").text_content()
    assert "difficulty" in tokens and "$" in tokens  # priced by --price
    assert errors == []


@pytest.mark.slow  # synth --n 10000: about a minute on 2 cores
def test_report_of_10k_synthetic_samples_is_bounded_and_browsable(synth_10k: Path, browser) -> None:
    report = synth_10k
    assert report.stat().st_size < 8_000_000  # 200 samples with thumbnails, whatever the dataset's size
    page, errors = _open(browser, report)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-synth-10k.png"))
    assert "Showing a seeded sample of 200 of 10000 samples" in page.locator("#sample-note").text_content()
    cards = _shown(page)
    assert len(cards) == 20 and all(all(c["thumbs"]) for c in cards)
    sources = [v for v in _options(page, "#f-source") if v != "(all)"]
    assert len(sources) >= 5  # every source is among the shown samples
    page.select_option("#f-source", sources[-1])
    after = _shown(page)
    assert after and {c["id"] for c in after} != {c["id"] for c in cards} and all(sources[-1] in c["text"] for c in after)
    page.click("#next") if not page.locator("#next").is_disabled() else None
    # Empty tables say so: a synthetic dataset has no verdicts and no pass rates.
    assert "none" in page.locator("#tables + h3 + *").text_content()
    assert errors == []
