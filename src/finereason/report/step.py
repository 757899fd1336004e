"""``Report``: an HTML report with plots and a README dataset card, written beside a dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from finereason.pipeline.engines import Engine
from finereason.pipeline.step import Step


class Report(Step):
    """Reads only a dataset's small columns (never the images) and its manifest chain."""

    name: ClassVar[str] = "report"
    summary: ClassVar[str] = "write an HTML report with plots and a README dataset card for a dataset"
    makes_dataset: ClassVar[bool] = False

    title: str | None = Field(None, description="report title (default: the folder name)")

    def run(self, src: str | os.PathLike[str] | None, out: str | os.PathLike[str] | None = None,
            engine: Engine | None = None, *, overwrite: bool = False) -> dict[str, Any]:
        """``out``: the HTML file (default ``src/report.html``); the card goes to ``src/README.md``."""
        from finereason.export.card import write_card
        from finereason.report.html import write_report  # matplotlib: only when a report is drawn
        from finereason.report.stats import collect

        assert src is not None
        root = Path(src)
        st = collect(str(root))
        html = Path(out) if out else root / "report.html"
        title = self.title or f"finereason report: {root.resolve().name}"
        write_report(st, html, title)
        card = write_card(st, root / "README.md", title)
        return {"stage": self.name, "report": str(html), "card": str(card)}
