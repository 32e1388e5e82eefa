import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.example_validator import executor as example_validator
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components import data_gate


def _anomalies_artifact(tmp_path, by_split):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(by_split))
    for split, proto in by_split.items():
        path = tmp_path / f"Split-{split}" / example_validator.DEFAULT_FILE_NAME
        io_utils.write_bytes_file(str(path), proto.SerializeToString())
    return artifact


def _anomaly(**features):
    proto = anomalies_pb2.Anomalies()
    for name, (short, long) in features.items():
        proto.anomaly_info[name].short_description = short
        proto.anomaly_info[name].description = long
    return proto


def test_clean_splits_pass(tmp_path):
    artifact = _anomalies_artifact(tmp_path, {"train": _anomaly(), "eval": _anomaly()})
    assert data_gate.check_anomalies(artifact, span=3) == 2


def test_anomalies_fail_naming_each_feature_split_and_span(tmp_path):
    artifact = _anomalies_artifact(
        tmp_path,
        {
            "train": _anomaly(
                island=(
                    "Unexpected string values",
                    "Examples contain values missing from the schema: Atlantis (~1%).",
                )
            ),
            "eval": _anomaly(
                island=(
                    "Unexpected string values",
                    "Examples contain values missing from the schema: Atlantis (~1%).",
                ),
                sex=("Column dropped", "The feature was present in fewer examples than expected."),
            ),
        },
    )
    with pytest.raises(data_gate.DataAnomaliesError) as error:
        data_gate.check_anomalies(artifact, span=4)
    message = str(error.value)
    assert message.startswith("data validation failed for span 4: 2 anomalies")
    assert "island: Unexpected string values" in message and "Atlantis" in message
    assert "[splits: eval, train]" in message
    assert "sex: Column dropped" in message
    assert "\n" not in message


def test_blocking_drift_and_skew_fail_with_the_option_that_accepts_them(tmp_path):
    artifact = _anomalies_artifact(tmp_path, {"train": _anomaly()})
    drifts = [
        "body_mass_g: jensen_shannon_divergence 0.310 > 0.250",
        "serving skew: island: l_infinity 0.500 > 0.300",
    ]
    with pytest.raises(data_gate.DataAnomaliesError) as error:
        data_gate.check_anomalies(artifact, span=6, drifts=drifts)
    message = str(error.value)
    assert message.startswith("data validation failed for span 6: drift beyond")
    assert "body_mass_g: jensen_shannon_divergence 0.310 > 0.250" in message
    assert message.endswith("(to accept it for one run: --accept-drift body_mass_g,island)")
