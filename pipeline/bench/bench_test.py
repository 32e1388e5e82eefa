"""Smoke tests of the benchmark's own code (the benchmark itself is `make bench`)."""

import csv
import json

from pipeline import synthetic
from pipeline.bench import run, stock
from pipeline.config import DEFAULT_DATA_ROOT


def _real_rows():
    rows = []
    for span in (1, 2, 3):
        with open(DEFAULT_DATA_ROOT / f"span-{span}" / "penguins.csv") as f:
            rows += list(csv.DictReader(f))
    return rows


def test_stock_data_is_processed_the_way_the_stock_example_expects():
    processed = stock.processed_rows(_real_rows())
    assert len(processed) == 342  # 344 penguins, 2 without measurements
    assert set(processed[0]) == {"species", *stock.RENAMED.values()}
    for column in stock.RENAMED.values():
        values = [r[column] for r in processed]
        assert min(values) == 0.0 and max(values) == 1.0
    assert {r["species"] for r in processed} == {0, 1, 2}


def test_synthetic_data_is_seeded_and_looks_like_the_real_data(tmp_path):
    real = _real_rows()
    counts = synthetic.write(real, tmp_path / "a", 3000, spans=2, seed=7)
    synthetic.write(real, tmp_path / "b", 3000, spans=2, seed=7)
    assert counts == {1: 1500, 2: 1500}
    a = (tmp_path / "a" / "span-1" / "penguins.csv").read_text()
    assert a == (tmp_path / "b" / "span-1" / "penguins.csv").read_text()
    with open(tmp_path / "a" / "span-1" / "penguins.csv") as f:
        rows = list(csv.DictReader(f))
    gentoo = [
        float(r["body_mass_g"]) for r in rows if r["species"] == "Gentoo" and r["body_mass_g"]
    ]
    adelie = [
        float(r["body_mass_g"]) for r in rows if r["species"] == "Adelie" and r["body_mass_g"]
    ]
    assert sum(gentoo) / len(gentoo) > sum(adelie) / len(adelie) + 800  # as on the real birds
    assert {r["island"] for r in rows if r["species"] == "Gentoo"} == {"Biscoe"}
    assert 0 < sum(not r["sex"] for r in rows) < 0.1 * len(rows)


def test_report_table_and_chart(tmp_path):
    def runs(first, rerun, pushes):
        comps = {"Transform": first / 3, "Trainer": first / 4}
        return {
            "first_run_s": first,
            "rerun_s": rerun,
            "rerun_new_pushes": pushes,
            "runs": {
                "first": {"components_s": comps, "peak_rss_mb": 900.0, "new_artifacts": 20},
                "rerun": {"components_s": {}, "peak_rss_mb": 800.0, "new_artifacts": pushes * 3},
            },
        }

    report = {"stock": runs(60.0, 20.0, 1), "ours": runs(30.0, 9.0, 0)}
    report["ratios"] = {"first_run": 0.5, "rerun": 0.45}
    text = run.table(report)
    assert "0.50" in text and "0.45" in text and "Transform" in text
    run.chart(report, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(report)
