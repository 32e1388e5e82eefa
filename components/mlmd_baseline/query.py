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


def latest_blessed_model(store, exclude_uris: Iterable[str] = ()) -> Artifact | None:
    """The newest Model an Evaluator blessed, other than those at `exclude_uris`."""
    excluded = set(exclude_uris)
    for blessing in drift_baseline.artifacts_of_type(store, "ModelBlessing"):
        if drift_baseline.number(blessing, "blessed") != 1:
            continue
        evaluation = drift_baseline.producer(store, blessing.id)
        model_ids = drift_baseline.inputs(store, evaluation, "model") if evaluation else []
        for model in store.get_artifacts_by_id(model_ids[:1]):
            if model.uri not in excluded:
                return model
    return None


def drift_baseline_statistics(store, examples_uris: Iterable[str]) -> Artifact | None:
    """The statistics a span's drift is measured against (as the local resolver picks
    them), for the span at `examples_uris`; None when there are none."""
    uris = set(examples_uris)
    current = {
        a.id: a for a in drift_baseline.artifacts_of_type(store, "Examples") if a.uri in uris
    }
    current_span = max((drift_baseline.span_of(a) or 0 for a in current.values()), default=0)
    earlier = [
        (statistics, drift_baseline.described_examples(store, statistics.id, set(current)))
        for statistics in drift_baseline.artifacts_of_type(store, "ExampleStatistics")
    ]
    return drift_baseline.pick_baseline(store, [p for p in earlier if p[1]], current_span)
