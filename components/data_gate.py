"""DataGate: stops the pipeline when ExampleValidator found anomalies, or when
DriftValidator found a drift nobody accepted.

The stock ExampleValidator records anomalies and never fails a run, and nothing
downstream reads its verdict. This component reads it and the drift report, and fails
with one message that names every feature and problem, so Transform and everything
after it never run.
"""

import os
from typing import TypedDict

from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import executor as example_validator
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components import drift
from components.errors import DataAnomaliesError


def load_anomalies(anomalies: types.Artifact) -> dict[str, anomalies_pb2.Anomalies]:
    """The Anomalies proto of each split of an ExampleAnomalies artifact."""
    return {
        split: anomalies_util.load_anomalies_binary(
            os.path.join(
                artifact_utils.get_split_uri([anomalies], split),
                example_validator.DEFAULT_FILE_NAME,
            )
        )
        for split in artifact_utils.decode_split_names(anomalies.split_names)
    }


def describe_anomalies(by_split: dict[str, anomalies_pb2.Anomalies]) -> list[str]:
    """One line per anomalous feature: `feature: short description (details)`, splits merged."""
    found: dict[str, dict[str, set[str]]] = {}
    for split, proto in sorted(by_split.items()):
        items = list(proto.anomaly_info.items())
        if proto.HasField("dataset_anomaly_info"):
            items.append(("<dataset>", proto.dataset_anomaly_info))
        for feature, info in items:
            what = info.short_description or anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)
            detail = info.description.strip()
            text = f"{what} ({detail})" if detail and detail != what else what
            found.setdefault(feature, {}).setdefault(text, set()).add(split)
    lines = []
    for feature in sorted(found):
        for text, splits in sorted(found[feature].items()):
            lines.append(f"{feature}: {text} [splits: {', '.join(sorted(splits))}]")
    return lines


def check_anomalies(
    anomalies: types.Artifact, span: int | None = None, drifts: list[str] = ()
) -> int:
    """Raises DataAnomaliesError naming every anomaly and every blocking drift; returns
    the number of splits checked."""
    by_split = load_anomalies(anomalies)
    problems = describe_anomalies(by_split)
    parts = []
    if problems:
        noun = "anomaly" if len(problems) == 1 else "anomalies"
        parts.append(f"{len(problems)} {noun}: " + "; ".join(problems))
    if drifts:
        accept = ",".join(d.removeprefix("serving skew: ").split(":")[0] for d in drifts)
        parts.append(
            "drift beyond the schema's thresholds: "
            + "; ".join(drifts)
            + f" (to accept it for one run: --accept-drift {accept})"
        )
    if parts:
        where = "" if span is None else f" for span {span}"
        raise DataAnomaliesError(f"data validation failed{where}: " + "; ".join(parts))
    return len(by_split)


class GateResult(TypedDict):
    checked_splits: int


@component
def DataGate(
    examples: InputArtifact[standard_artifacts.Examples],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    drift_report: InputArtifact[drift.DriftReport] = None,  # optional
) -> GateResult:
    """Passes when the examples conform to the schema and have not drifted (or the drift
    was accepted); fails the run otherwise."""
    span = (
        examples.get_int_custom_property("span") if examples.has_custom_property("span") else None
    )
    drifts = drift.blocking_drift(drift_report) if drift_report is not None else []
    return {"checked_splits": check_anomalies(anomalies, span, drifts)}
