"""The two baselines the gates compare with, found in an ML Metadata store.

Locally, TFX resolvers find them (components/baseline.py, components/drift_baseline.py).
On Kubeflow, KFP's backend runs no resolver, so a task of ours asks KFP's ML Metadata the
same questions; this module is what it asks, for either layout: the local one (types
`Model`, integer properties) and KFP's (types `tfx.Model`, every number a double, one
execution per cached task pointing at the same artifacts).
"""

from __future__ import annotations

from collections.abc import Iterable

from ml_metadata.proto import metadata_store_pb2

from components import drift_baseline

Artifact = metadata_store_pb2.Artifact


def artifacts_of_type(store, name: str) -> list[Artifact]:
    """Artifacts of TFX type `name` under either layout's type name, newest first."""
    found = [*store.get_artifacts_by_type(name), *store.get_artifacts_by_type(f"tfx.{name}")]
    return sorted(found, key=lambda a: a.id, reverse=True)


def number(artifact: Artifact, key: str) -> float | None:
    """A numeric custom property (int, double or numeric string), else None."""
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    kind = value.WhichOneof("value")
    if kind in ("int_value", "double_value"):
        return float(getattr(value, kind))
    try:
        return float(value.string_value)
    except ValueError:
        return None


def latest_blessed_model(store, exclude_uris: Iterable[str] = ()) -> Artifact | None:
    """The newest Model an Evaluator blessed, other than those at `exclude_uris`."""
    excluded = set(exclude_uris)
    for blessing in artifacts_of_type(store, "ModelBlessing"):
        if number(blessing, "blessed") != 1:
            continue
        evaluation = drift_baseline.producer(store, blessing.id)
        model_ids = drift_baseline.inputs(store, evaluation, "model") if evaluation else []
        for model in store.get_artifacts_by_id(model_ids[:1]):
            if model.uri not in excluded:
                return model
    return None


def drift_baseline_statistics(store, examples_uris: Iterable[str]) -> Artifact | None:
    """The statistics a span's drift is measured against: those of the newest span the
    served model was trained on, else of the newest earlier span than the span at
    `examples_uris`; None when there is neither."""
    current = set(examples_uris)
    current_spans = [
        drift_baseline.span_of(a) or 0
        for a in artifacts_of_type(store, "Examples")
        if a.uri in current
    ]
    current_span = max(current_spans, default=0)

    def described(statistics: Artifact) -> Artifact | None:
        made_by = drift_baseline.producer(store, statistics.id)
        source = drift_baseline.inputs(store, made_by, "examples")[:1] if made_by else []
        found = store.get_artifacts_by_id(source)
        return found[0] if found and found[0].uri not in current else None

    earlier = [(s, described(s)) for s in artifacts_of_type(store, "ExampleStatistics")]
    earlier = [(s, e) for s, e in earlier if e is not None]
    served = set(drift_baseline.served_training_examples(store))
    of_served = [(s, e) for s, e in earlier if e.id in served]
    of_previous = [(s, e) for s, e in earlier if (drift_baseline.span_of(e) or 0) < current_span]
    best = max(
        of_served or of_previous,
        key=lambda pair: (drift_baseline.span_of(pair[1]) or 0, pair[0].id),
        default=None,
    )
    return best[0] if best else None
