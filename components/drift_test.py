"""Drift measured by TFDV with the curated schema's comparators: the bundled yearly spans
pass; spans that moved are caught, with the moved feature named."""

import csv
import itertools

import pytest
import tensorflow_data_validation as tfdv

from components import drift
from pipeline.config import DEFAULT_DATA_ROOT, DEFAULT_SCHEMA


def _rows(span: int) -> list[dict]:
    with open(DEFAULT_DATA_ROOT / f"span-{span}" / "penguins.csv") as f:
        return list(csv.DictReader(f))


def _statistics(rows: list[dict], tmp_path, name: str):
    path = tmp_path / f"{name}.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return tfdv.generate_statistics_from_csv(str(path))


@pytest.fixture(scope="module")
def schema():
    return tfdv.load_schema_text(str(DEFAULT_SCHEMA))


@pytest.fixture(scope="module")
def yearly(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stats")
    return {span: _statistics(_rows(span), tmp, f"span-{span}") for span in (1, 2, 3)}


def test_every_compared_feature_has_a_threshold_in_the_curated_schema(schema):
    compared = {
        f.name
        for f in schema.feature
        if f.drift_comparator.HasField("jensen_shannon_divergence")
        or f.drift_comparator.HasField("infinity_norm")
    }
    assert compared == {
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "island",
        "sex",
    }


@pytest.mark.parametrize(("baseline", "current"), list(itertools.permutations((1, 2, 3), 2)))
def test_bundled_yearly_spans_do_not_drift(schema, yearly, baseline, current):
    measured = drift.drift(yearly[current], yearly[baseline], schema)
    assert len(measured) == 6
    assert [d.describe() for d in measured if d.drifted] == []


def _shift_body_mass(rows):
    for row in rows:
        if row["body_mass_g"]:
            row["body_mass_g"] = str(int(row["body_mass_g"]) + 1000)
    return rows


def _only_biscoe(rows):
    for row in rows:
        row["island"] = "Biscoe"
    return rows


@pytest.mark.parametrize(
    ("mutate", "feature"),
    [(_shift_body_mass, "body_mass_g"), (_only_biscoe, "island")],
    ids=["body-mass-shifted", "island-mix-changed"],
)
def test_a_moved_feature_drifts(schema, yearly, tmp_path, mutate, feature):
    moved = _statistics(mutate(_rows(3)), tmp_path, "moved")
    drifted = [d for d in drift.drift(moved, yearly[2], schema) if d.drifted]
    assert [d.feature for d in drifted] == [feature]
    assert drifted[0].distance > drifted[0].threshold


def test_skew_compares_serving_with_training(schema, yearly, tmp_path):
    serving_rows = [
        {k: v for k, v in row.items() if k not in ("species", "year")} for row in _rows(3)
    ]
    clean = _statistics(serving_rows, tmp_path, "clean")
    assert [d for d in drift.skew(yearly[3], clean, schema) if d.drifted] == []
    skewed = _statistics(_only_biscoe(serving_rows), tmp_path, "skewed")
    assert [d.feature for d in drift.skew(yearly[3], skewed, schema) if d.drifted] == ["island"]


def test_report_blocks_unaccepted_drift_and_records_who_accepted_it(schema, yearly, tmp_path):
    moved = _statistics(_shift_body_mass(_rows(3)), tmp_path, "moved")
    blocked = drift.build_report(moved, schema, baseline=yearly[2])
    assert blocked["drifted"] == ["body_mass_g"] and blocked["accepted_by"] == ""
    assert blocked["blocking"][0].startswith("body_mass_g: jensen_shannon_divergence")

    accepted = drift.build_report(
        moved, schema, baseline=yearly[2], accept_drift="body_mass_g", accepted_by="--x"
    )
    assert accepted["blocking"] == [] and accepted["accepted"] == ["body_mass_g"]
    assert accepted["accepted_by"] == "--x"


def test_report_without_baseline_checks_nothing_but_serving_skew(schema, yearly, tmp_path):
    assert drift.build_report(yearly[3], schema)["blocking"] == []
    serving_rows = [{k: v for k, v in r.items() if k not in ("species", "year")} for r in _rows(3)]
    skewed = _statistics(_only_biscoe(serving_rows), tmp_path, "serving")
    report = drift.build_report(yearly[3], schema, serving=skewed)
    assert report["skewed"] == ["island"]
    assert report["blocking"][0].startswith("serving skew: island: l_infinity")
