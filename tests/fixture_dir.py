"""Where the real MMFineReason sample lives: ``shared/`` beside the checkout (as in CI).

``FINEREASON_FIXTURE_DIR`` overrides it. A missing fixture is an error, not a skip: the
acceptance tests on real data must not pass by not running.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FIXTURE_DIR = Path(
    os.environ.get("FINEREASON_FIXTURE_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mmfinereason-sample"
)

if not (FIXTURE_DIR / "records.jsonl").exists():
    raise FileNotFoundError(
        f"real-data fixture not found at {FIXTURE_DIR}; set FINEREASON_FIXTURE_DIR to the mmfinereason-sample folder"
    )


def read_release_records() -> list[dict]:
    """The 70 records of ``records.jsonl``, with the release's own column names."""
    text = (FIXTURE_DIR / "records.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
