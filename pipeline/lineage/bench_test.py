"""The benchmark's store filler: clones of a run are real runs to the API, and a trace's
size does not grow with the number of runs (the chains to earlier runs are not followed).
Timing is the benchmark's job (python -m pipeline.lineage.bench), not a test's."""

from pipeline.lineage import api, bench
from pipeline.lineage.store import open_store
from pipeline.lineage.synthetic import demo_store


def test_populate_adds_runs_that_push_new_versions(tmp_path):
    store = open_store(demo_store(tmp_path), writable=True)
    before = api.trace(store, "latest", with_metrics=False)

    assert bench.populate(store, runs=8) == 5

    runs = api.runs(store)
    assert len(runs) == 8
    assert runs[-1].pushed_version == 7 and runs[-1].name == "run-2-clone-005"
    assert {"CsvExampleGen", "StatisticsGen"} <= set(runs[-1].cached)
    after = api.trace(store, "latest", with_metrics=False)
    assert after.version == 7
    assert after.shape() == before.shape()
    assert len(after.lineage.artifacts) == len(before.lineage.artifacts)


def test_time_trace_reports_seconds(tmp_path):
    store = open_store(demo_store(tmp_path))
    timing = bench.time_trace(store, repeats=2)
    assert 0 < timing["min_s"] <= timing["median_s"] <= timing["max_s"]
