"""Regenerates `data/penguins/span-N/` from the CSV bundled in the `palmerpenguins` package.

One span per year (2007 → span-1, 2008 → span-2, 2009 → span-3). Missing values,
written `NA` in the package's CSV, become empty fields: CsvExampleGen would otherwise
read a numeric column holding `NA` as a string feature.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

COLUMNS = (
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
)
SPAN_FILE_NAME = "penguins.csv"


def read_bundled_rows() -> list[dict[str, str]]:
    """Rows of the palmerpenguins package's own CSV (no network involved)."""
    text = resources.files("palmerpenguins").joinpath("data/penguins.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ValueError(f"palmerpenguins CSV: expected columns {COLUMNS}, got {tuple(rows[0])}")
    return [{k: ("" if v == "NA" else v) for k, v in row.items()} for row in rows]


def write_spans(
    rows: list[dict[str, str]], out_dir: Path, span_key: str = "year"
) -> dict[int, int]:
    """Writes one `span-N/penguins.csv` per distinct `span_key` value, in sorted order.

    Returns the row count per span number.
    """
    keys = sorted({row[span_key] for row in rows})
    counts = {}
    for span, key in enumerate(keys, start=1):
        span_dir = out_dir / f"span-{span}"
        span_dir.mkdir(parents=True, exist_ok=True)
        span_rows = [row for row in rows if row[span_key] == key]
        with open(span_dir / SPAN_FILE_NAME, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(span_rows)
        counts[span] = len(span_rows)
    return counts
