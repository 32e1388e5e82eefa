"""Drift and skew: how far a span's distributions moved from a baseline, feature by feature.

TFDV measures the distances (Jensen-Shannon divergence for numeric features, L-infinity
distance for categorical ones) with the comparators the curated schema declares per
feature; a feature the schema gives no comparator gets the documented default below.
`DriftValidator` writes the verdicts as a `DriftReport`; DataGate stops the run on them.
"""

import dataclasses
import json
import os

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx import types
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

# Defaults for features whose schema entry has no comparator. The bundled yearly spans
# move by at most 0.17 (JS) and 0.15 (L-inf) from one year to the next.
DEFAULT_JS_THRESHOLD = 0.25
DEFAULT_LINF_THRESHOLD = 0.3
REPORT_FILE_NAME = "drift_report.json"
ACCEPT_ALL = "all"


class DriftReport(types.Artifact):
    """Per feature: distance, threshold, verdict; whether a drift was accepted, and how."""

    # KFP v2 wants `namespace.Name` titles; pipeline.kubeflow.entrypoint maps it back.
    TYPE_NAME = "penguins.DriftReport"


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    feature: str
    measure: str  # jensen_shannon_divergence | l_infinity
    distance: float
    threshold: float

    @property
    def drifted(self) -> bool:
        return self.distance > self.threshold

    def describe(self) -> str:
        relation = ">" if self.drifted else "<="
        return f"{self.feature}: {self.measure} {self.distance:.3f} {relation} {self.threshold:.3f}"


def with_comparators(schema: schema_pb2.Schema, kind: str = "drift") -> schema_pb2.Schema:
    """A copy of `schema` where every feature a model is served (not the label, not the
    span key: those are absent at serving) has a `kind` comparator, drift or skew: the
    schema's own, or the default."""
    schema = schema_pb2.Schema.FromString(schema.SerializeToString())
    for feature in schema.feature:
        comparator = getattr(feature, f"{kind}_comparator")
        has_own = comparator.HasField("jensen_shannon_divergence") or comparator.HasField(
            "infinity_norm"
        )
        if has_own or "SERVING" in feature.not_in_environment:
            continue
        if feature.type in (schema_pb2.FLOAT, schema_pb2.INT):
            comparator.jensen_shannon_divergence.threshold = DEFAULT_JS_THRESHOLD
        elif feature.type == schema_pb2.BYTES:
            comparator.infinity_norm.threshold = DEFAULT_LINF_THRESHOLD
    return schema


def _measurements(anomalies) -> list[FeatureDrift]:
    names = {
        1: "l_infinity",  # DriftSkewInfo.Measurement.Type
        2: "jensen_shannon_divergence",
        3: "normalized_abs_difference",
    }
    result = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in (*info.drift_measurements, *info.skew_measurements):
            result.append(
                FeatureDrift(
                    feature,
                    names.get(measurement.type, str(measurement.type)),
                    measurement.value,
                    measurement.threshold,
                )
            )
    return sorted(result, key=lambda d: d.feature)


def drift(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> list[FeatureDrift]:
    """Distance of each compared feature of `current` from `baseline`."""
    anomalies = tfdv.validate_statistics(
        current, with_comparators(schema, "drift"), previous_statistics=baseline
    )
    return _measurements(anomalies)


def skew(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    serving: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
) -> list[FeatureDrift]:
    """Distance of each serving feature's distribution from training's."""
    anomalies = tfdv.validate_statistics(
        training,
        with_comparators(schema, "skew"),
        serving_statistics=serving,
        environment="SERVING",
    )
    return _measurements(anomalies)


def load_statistics(statistics: types.Artifact, split: str = "train"):
    path = os.path.join(artifact_utils.get_split_uri([statistics], split), "FeatureStats.pb")
    return tfdv.load_stats_binary(path)


def accepted_features(accept_drift: str) -> set[str]:
    return {f.strip() for f in accept_drift.split(",") if f.strip()}


def build_report(
    current: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    baseline: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    serving: statistics_pb2.DatasetFeatureStatisticsList | None = None,
    accept_drift: str = "",
    accepted_by: str = "",
) -> dict:
    """Drift of `current` from `baseline` and, given serving statistics, skew of serving
    from `current`; which of them block the run, which were accepted, and by what."""
    measured = drift(current, baseline, schema) if baseline is not None else []
    skewed = [d for d in skew(current, serving, schema) if d.drifted] if serving else []
    accepted = accepted_features(accept_drift)
    moved = [d for d in measured if d.drifted] + skewed
    unaccepted = [d for d in moved if d.feature not in accepted and ACCEPT_ALL not in accepted]
    return {
        "features": [{**dataclasses.asdict(d), "drifted": d.drifted} for d in measured],
        "drifted": [d.feature for d in measured if d.drifted],
        "skewed": [d.feature for d in skewed],
        "accepted": sorted({d.feature for d in moved} - {d.feature for d in unaccepted}),
        "accepted_by": accepted_by if len(unaccepted) < len(moved) else "",
        "blocking": [("serving skew: " if d in skewed else "") + d.describe() for d in unaccepted],
    }


@component
def DriftValidator(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    schema: InputArtifact[standard_artifacts.Schema],
    report: OutputArtifact[DriftReport],
    baseline_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,  # optional
    serving_statistics: InputArtifact[standard_artifacts.ExampleStatistics] = None,  # optional
    accept_drift: Parameter[str] = "",
    accepted_by: Parameter[str] = "",
) -> None:
    """Measures drift of this span's training split from the baseline's (and skew of
    serving statistics from it, when given); never fails the run itself (DataGate does),
    so that the report is recorded either way."""
    content = build_report(
        load_statistics(statistics),
        tfdv.load_schema_text(os.path.join(schema.uri, "schema.pbtxt")),
        load_statistics(baseline_statistics) if baseline_statistics is not None else None,
        load_statistics(serving_statistics) if serving_statistics is not None else None,
        accept_drift,
        accepted_by,
    )
    content["baseline"] = (
        None
        if baseline_statistics is None
        else {"statistics_id": baseline_statistics.id, "uri": baseline_statistics.uri}
    )
    io_utils.write_string_file(
        os.path.join(report.uri, REPORT_FILE_NAME), json.dumps(content, indent=2)
    )
    report.set_int_custom_property("drifted", len(content["drifted"]))
    report.set_int_custom_property("blocking", len(content["blocking"]))
    report.set_string_custom_property("drifted_features", ",".join(content["drifted"]))
    report.set_string_custom_property("skewed_features", ",".join(content["skewed"]))
    report.set_string_custom_property("accepted_features", ",".join(content["accepted"]))
    report.set_string_custom_property("accepted_by", content["accepted_by"])
    report.set_int_custom_property("has_baseline", int(baseline_statistics is not None))


def blocking_drift(report: types.Artifact) -> list[str]:
    """The drifts the report says must stop the run, described one per feature."""
    with open(os.path.join(report.uri, REPORT_FILE_NAME)) as f:
        return json.load(f)["blocking"]
