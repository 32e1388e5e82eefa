"""Lineage: where did this model come from? Read from ML Metadata, local or Kubeflow.

- `store`: names a store (SQLite file, mysql://, postgresql://, grpc://) and opens it;
  passwords only from $MLMD_PASSWORD; one-line `StoreError`s.
- `layout`: how TFX's local runner and KFP v2 lay lineage out, behind a few functions.
- `graph`: the lineage graph and the batched walks (upstream, downstream, one run).
- `api`: `runs`, `trace`, `impact`, `diff`, `run_graph`, returning dataclasses.
- `render`: tables and trees for the terminal; DOT, SVG and self-contained HTML.
- `cli`: the `lineage` click group (`penguins lineage ...`).
- `synthetic`: lineage written by hand (both layouts), for tests and the benchmark.
- `bench`: `python -m pipeline.lineage.bench --runs 50` times `trace latest`.
"""
