"""``Report``: an HTML report with plots and a README dataset card, written beside a dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from finereason.pipeline.engines import Engine
from finereason.pipeline.step import Step


class Report(Step):
    """Statistics from a dataset's small columns and its manifest chain; a sample browser from a
    bounded, seeded sample of its rows (thumbnails included)."""

    name: ClassVar[str] = "report"
    summary: ClassVar[str] = "write an HTML report with plots and a README dataset card for a dataset"
    makes_dataset: ClassVar[bool] = False

    title: str | None = Field(None, description="report title (default: the folder name)")
    samples: int = Field(200, ge=0, description=(
        "samples embedded in the browser (default 200; a seeded stratified sample when more)"),
        json_schema_extra={"metavar": "N"})
    seed: int = Field(0, description="seed of the browser's sample (default 0)")
    price: list[str] = Field(default_factory=list, description=(
        "US dollars per million prompt/completion tokens of a model, as its stage's manifest "
        "names it (repeatable); without it costs are shown as unknown"),
        json_schema_extra={"metavar": "MODEL=IN/OUT"})

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None = None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        """``out``: the HTML file (default ``src/report.html``); the card goes to ``src/README.md``."""
        from finereason.export.card import write_card
        from finereason.report.funnel import funnel, parse_prices
        from finereason.report.html import write_report  # matplotlib: only when a report is drawn
        from finereason.report.samples import pick_samples
        from finereason.report.stats import collect

        assert src is not None
        prices = parse_prices(self.price)  # a bad price is refused before anything is read
        root = Path(src)
        st = collect(str(root))
        html = Path(out) if out else root / "report.html"
        title = self.title or f"finereason report: {root.resolve().name}"
        write_report(st, html, title, funnel(str(root), st.manifests, prices),
                     pick_samples(str(root), self.samples, self.seed))
        card = write_card(st, root / "README.md", title)
        return {"stage": self.name, "report": str(html), "card": str(card)}
