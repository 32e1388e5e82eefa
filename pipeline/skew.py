"""Training/serving skew: statistics of a log of serving requests, compared with the
training statistics of the model being served."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from components import drift
from components.drift_baseline import served_training_examples, statistics_of
from models import features


@dataclasses.dataclass
class SkewReport:
    requests: str
    rows: int
    training_statistics: str
    features: list[drift.FeatureDrift]

    @property
    def skewed(self) -> list[drift.FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def to_dict(self) -> dict:
        return {
            "requests": self.requests,
            "rows": self.rows,
            "training_statistics": self.training_statistics,
            "features": [{**dataclasses.asdict(f), "skewed": f.drifted} for f in self.features],
            "skewed": [f.feature for f in self.skewed],
        }


def read_requests(path: Path):
    """A JSONL file of raw feature values (one request per line, as `serving_raw` takes
    them) as a DataFrame; a missing or empty value is a missing value."""
    import pandas as pd

    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not a JSON object ({e.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object of feature values")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no requests")
    expected = set(features.NUMERIC_FEATURE_KEYS) | set(features.CATEGORICAL_FEATURE_KEYS)
    unknown = sorted({k for row in rows for k in row} - expected)
    if unknown:
        raise ValueError(
            f"{path}: unknown feature(s) {', '.join(unknown)}; "
            f"expected {', '.join(sorted(expected))}"
        )
    frame = pd.DataFrame(rows, columns=sorted(expected))
    for key in features.NUMERIC_FEATURE_KEYS:
        frame[key] = pd.to_numeric(frame[key], errors="raise").astype(float)
    for key in features.CATEGORICAL_FEATURE_KEYS:
        frame[key] = frame[key].map(lambda v: None if v in ("", None) or _is_nan(v) else str(v))
    return frame


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def training_statistics(store):
    """The StatisticsGen output of the newest span the served model was trained on."""
    examples = store.get_artifacts_by_id(served_training_examples(store))
    if not examples:
        raise ValueError("no pushed model in this store: nothing to compare serving with")
    newest = max(examples, key=lambda a: (a.custom_properties["span"].int_value, a.id))
    statistics = statistics_of(store, newest.id)
    if statistics is None:
        raise ValueError(f"no statistics recorded for the served model's examples ({newest.uri})")
    return statistics


def check(store, requests_path: Path, schema_path: Path) -> SkewReport:
    import tensorflow_data_validation as tfdv
    from tfx.types import standard_artifacts

    frame = read_requests(requests_path)
    serving = tfdv.generate_statistics_from_dataframe(frame)
    recorded = training_statistics(store)
    statistics = standard_artifacts.ExampleStatistics()
    statistics.set_mlmd_artifact(recorded)
    training = drift.load_statistics(statistics, "train")
    measured = drift.skew(training, serving, tfdv.load_schema_text(str(schema_path)))
    return SkewReport(str(requests_path), len(frame), recorded.uri, measured)


def render(report: SkewReport) -> str:
    lines = [
        f"Skew of {report.rows} serving requests ({report.requests})",
        f"against the served model's training statistics ({report.training_statistics}):",
        f"  {'feature':<20} {'measure':<26} {'distance':>8} {'threshold':>9}  verdict",
    ]
    for f in report.features:
        verdict = "SKEWED" if f.drifted else "ok"
        lines.append(
            f"  {f.feature:<20} {f.measure:<26} {f.distance:>8.3f} {f.threshold:>9.3f}  {verdict}"
        )
    names = ", ".join(f.feature for f in report.skewed)
    lines.append(f"Skewed: {names}." if names else "No feature skewed beyond its threshold.")
    return "\n".join(lines)
