"""Resolves the Evaluator's baseline: the latest blessed model other than the candidate.

TFX's LatestBlessedModelStrategy resolves before Trainer runs, so an identical re-run
(Trainer cached) hands the Evaluator the very model it is evaluating as its baseline:
its inputs differ from the first run's, it re-runs, and TFMA compares the model with
itself. Resolved after Trainer, this strategy skips the candidate: a re-run then asks
for exactly the first run's evaluation (a cache hit), and a new model is still compared
with the model being served, so the no-regression check is unchanged.
"""

from __future__ import annotations

from ml_metadata import metadata_store
from tfx import types
from tfx.dsl.components.common import resolver

CANDIDATE_KEY = "candidate"
MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"


def latest_other_blessed(
    candidates: list[types.Artifact], models: list[types.Artifact], blessings: list[types.Artifact]
) -> tuple[list[types.Artifact], list[types.Artifact]]:
    """([model], [its blessing]) of the newest blessed model not in `candidates`, or ([], [])."""
    blessing_of = {
        b.get_int_custom_property("current_model_id"): b
        for b in blessings
        if b.get_int_custom_property("blessed") == 1
    }
    excluded = {c.id for c in candidates}
    for model in sorted(models, key=lambda m: m.id, reverse=True):
        if model.id in blessing_of and model.id not in excluded:
            return [model], [blessing_of[model.id]]
    return [], []


class LatestOtherBlessedModelStrategy(resolver.ResolverStrategy):
    """Inputs: `candidate` (this run's model), `model` and `model_blessing` (all of them)."""

    def resolve_artifacts(
        self, store: metadata_store.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]]:
        model, blessing = latest_other_blessed(
            input_dict.get(CANDIDATE_KEY, []),
            input_dict.get(MODEL_KEY, []),
            input_dict.get(BLESSING_KEY, []),
        )
        return {
            CANDIDATE_KEY: input_dict.get(CANDIDATE_KEY, []),
            MODEL_KEY: model,
            BLESSING_KEY: blessing,
        }
