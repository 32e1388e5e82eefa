"""How fast `trace latest` answers on a store holding many runs.

    python -m pipeline.lineage.bench --source outputs/metadata.db --runs 50

copies the source SQLite store to a temp file (the source is never written), then clones
the run that pushed its latest model with the MLMD API until the copy holds `--runs`
runs. Each clone is what a re-run on the same data records: the ingestion and validation
components cached (reusing the same examples, schema and statistics, which piles their
consumers up as the store grows), Transform onwards run again with new artifacts, a new
serving version pushed, and the Evaluator's baseline and Transform's analyzer cache
pointing at the previous clone (the chains a walk must not follow). It then times `trace
latest`: the MLMD walk alone, and with TFMA reading the metrics.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ml_metadata import metadata_store

from pipeline.lineage import api, layout, store
from pipeline.lineage.graph import Lineage, Walker
from pipeline.lineage.synthetic import New, Recorder

REUSED = frozenset(
    {
        "CsvExampleGen",
        "ImportSchemaGen",
        "StatisticsGen",
        "SchemaGen",
        "ExampleValidator",
        "DriftValidator",
        "DataGate",
    }
)
# Input key -> the output key of the previous run it points at.
CHAINED = {"baseline_model": "model", "analyzer_cache": "updated_analyzer_cache"}


def populate(target: metadata_store.MetadataStore, runs: int) -> int:
    """Clones the latest pushed model's run until the store holds `runs` runs; returns
    how many clones were written."""
    source_run = api.trace(target, "latest", with_metrics=False).made_by.run
    context = api.find_run(target, source_run)
    kfp = context.type == layout.RUN_CONTEXT_TYPES[1]
    tasks = [e.id for e in target.get_executions_by_context(context.id) if layout.is_task(e)]
    source = Walker(target).of_executions(tasks)
    version = max((r.pushed_version or 0) for r in api.runs(target))
    recorder = Recorder(target, kfp=kfp, pipeline=api.runs(target)[-1].pipeline or "penguins")
    previous: dict[str, list[int]] = {}
    clones = max(0, runs - len(api.runs(target)))
    for index in range(1, clones + 1):
        recorder.start_run(f"{source_run}-clone-{index:03d}")
        previous = clone_run(recorder, source, previous, serving_version=version + index)
    return clones


def clone_run(
    recorder: Recorder, source: Lineage, previous: dict[str, list[int]], serving_version: int
) -> dict[str, list[int]]:
    """Records one copy of `source` (one run's executions); returns its outputs by key."""
    renamed: dict[int, int] = {}
    made_by_key: dict[str, list[int]] = {}
    for execution in source.executions.values():
        inputs: dict[str, list[int]] = {}
        for edge in source.inputs(execution.id):
            chained = previous.get(CHAINED.get(edge.key, ""), [])
            ids = chained or [renamed.get(edge.artifact, edge.artifact)]
            inputs.setdefault(edge.key, []).extend(
                i for i in ids if i not in inputs.get(edge.key, [])
            )
        outputs: dict[str, list] = {}
        originals: dict[str, list[int]] = {}
        cached = execution.component in REUSED
        for edge in source.outputs(execution.id):
            artifact = source.artifacts[edge.artifact]
            properties = dict(artifact.properties)
            if "serving_version" in properties:
                properties["serving_version"] = serving_version
            new = edge.artifact if cached else New(artifact.type, properties, artifact.uri)
            outputs.setdefault(edge.key, []).append(new)
            originals.setdefault(edge.key, []).append(edge.artifact)
        made = recorder.record(execution.component, inputs, outputs, "cached" if cached else "ran")
        for key, ids in made.items():
            renamed.update(zip(originals[key], ids, strict=True))
            made_by_key[key] = ids
    return made_by_key


def time_trace(
    target: metadata_store.MetadataStore, repeats: int = 7, with_metrics: bool = False
) -> dict:
    """Seconds `trace latest` takes: median, min and max over `repeats` calls."""
    api.trace(target, "latest", with_metrics=with_metrics)  # warm up (imports, caches)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        api.trace(target, "latest", with_metrics=with_metrics)
        seconds.append(time.perf_counter() - started)
    return {
        "median_s": round(statistics.median(seconds), 4),
        "min_s": round(min(seconds), 4),
        "max_s": round(max(seconds), 4),
        "repeats": repeats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", default=store.DEFAULT_TARGET, help="SQLite store with a pushed model"
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--metrics", action="store_true", help="Also time the trace with TFMA metrics."
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "3")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "metadata.db"
        shutil.copy(args.source, copy)
        target = store.open_store(copy, writable=True)
        started = time.perf_counter()
        clones = populate(target, args.runs)
        print(
            f"populated: {len(api.runs(target))} runs"
            f" ({clones} clones in {time.perf_counter() - started:.1f} s)"
        )
        trace = api.trace(target, "latest", with_metrics=False)
        print(
            f"trace latest: {trace.target.label}, {len(trace.lineage.artifacts)} artifacts, "
            f"{len(trace.lineage.executions)} executions"
        )
        print(f"trace latest, MLMD walk: {time_trace(target, args.repeats)}")
        if args.metrics:
            print(
                f"trace latest, with metrics: {time_trace(target, args.repeats, with_metrics=True)}"
            )
        started = time.perf_counter()
        api.runs(target)
        print(f"runs: {time.perf_counter() - started:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
