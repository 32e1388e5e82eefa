"""Larger penguin-like data for benchmarks: fitted on the real rows, seeded, written as spans.

Each row's (species, island, sex) is drawn with the frequency it has in the real data;
its measurements from a normal distribution fitted to that group (the species' when the
group has fewer than three birds), rounded and clipped like the real ones; values go
missing at the real per-column rates.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pipeline.data import COLUMNS, SPAN_FILE_NAME

NUMERIC = {  # column: decimals kept
    "bill_length_mm": 1,
    "bill_depth_mm": 1,
    "flipper_length_mm": 0,
    "body_mass_g": 0,
}


def fit(rows: list[dict[str, str]]) -> dict:
    """Group frequencies, per-group means and deviations, missing rates, observed ranges."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["species"], row["island"], row["sex"]), []).append(row)
    by_species: dict[str, list[dict]] = {}
    for row in rows:
        by_species.setdefault(row["species"], []).append(row)

    def moments(members: list[dict], column: str) -> tuple[float, float]:
        values = np.array([float(r[column]) for r in members if r[column]])
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0

    model = {"groups": [], "missing": {}, "ranges": {}}
    for key, members in sorted(groups.items()):
        source = members if len(members) >= 3 else by_species[key[0]]
        model["groups"].append(
            {
                "key": key,
                "weight": len(members) / len(rows),
                "moments": {c: moments(source, c) for c in NUMERIC},
            }
        )
    for column in NUMERIC:
        values = [float(r[column]) for r in rows if r[column]]
        model["ranges"][column] = (min(values), max(values))
        model["missing"][column] = sum(not r[column] for r in rows) / len(rows)
    return model


def sample(model: dict, n: int, seed: int, year: str) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    weights = np.array([g["weight"] for g in model["groups"]])
    chosen = rng.choice(len(weights), size=n, p=weights / weights.sum())
    columns: dict[str, np.ndarray] = {}
    for column, decimals in NUMERIC.items():
        means = np.array([g["moments"][column][0] for g in model["groups"]])[chosen]
        stds = np.array([g["moments"][column][1] for g in model["groups"]])[chosen]
        low, high = model["ranges"][column]
        values = np.clip(rng.normal(means, stds), low, high).round(decimals)
        columns[column] = np.where(rng.random(n) < model["missing"][column], np.nan, values)
    rows = []
    for i, group_index in enumerate(chosen):
        species, island, sex = model["groups"][group_index]["key"]
        row = {"species": species, "island": island, "sex": sex, "year": year}
        for column, decimals in NUMERIC.items():
            value = columns[column][i]
            row[column] = "" if np.isnan(value) else f"{value:.{decimals}f}"
        rows.append(row)
    return rows


def write(
    rows: list[dict[str, str]], out_dir: Path, total: int, spans: int = 1, seed: int = 0
) -> dict[int, int]:
    """Writes `total` synthetic rows as `spans` spans under `out_dir`; returns rows per span."""
    model = fit(rows)
    counts = {}
    for span in range(1, spans + 1):
        n = total // spans + (1 if span <= total % spans else 0)
        span_dir = out_dir / f"span-{span}"
        span_dir.mkdir(parents=True, exist_ok=True)
        with open(span_dir / SPAN_FILE_NAME, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(sample(model, n, seed + span, str(2006 + span)))
        counts[span] = n
    return counts
