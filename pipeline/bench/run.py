"""`python -m pipeline.bench`: measures, in one invocation, side by side,
(a) the stock TFX penguin pipeline and (b) this project's full pipeline, each as whole
processes (what a user waits for, imports included): a first run and an identical
re-run. Prints a table with the ratios (ours / stock), writes `report.json` and a PNG
of per-component times. `--scale 10000,100000` adds runs of ours on synthetic data.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import DEFAULT_DATA_ROOT, PROJECT_ROOT


def _rows() -> list[dict[str, str]]:
    import csv

    rows = []
    for span_dir in sorted(DEFAULT_DATA_ROOT.glob("span-*")):
        with open(span_dir / "penguins.csv") as f:
            rows += list(csv.DictReader(f))
    return rows


PIPELINE_NAMES = {"stock": "penguin_local", "ours": "penguins"}


def component_seconds(metadata_path: Path, pipeline_name: str) -> dict[str, float]:
    """Seconds per component of the newest run recorded in a store (MLMD's own times)."""
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    from pipeline import mlmd

    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(metadata_path))
    )
    run = mlmd.latest_run_context(store, pipeline_name)
    if run is None:
        return {}
    return {
        node: round(
            (e.execution.last_update_time_since_epoch - e.execution.create_time_since_epoch) / 1000,
            2,
        )
        for node, e in mlmd.node_executions(store, run.id).items()
    }


def _count_artifacts(metadata_path: Path) -> int:
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    if not metadata_path.exists():
        return 0
    config = metadata.sqlite_metadata_connection_config(str(metadata_path))
    return len(metadata_store.MetadataStore(config).get_artifacts())


def _pushed_versions(serving: Path) -> int:
    return sum(1 for p in serving.glob("*") if p.is_dir() and not p.name.startswith("."))


def measure(which: str, workdir: Path, *extra: str) -> dict:
    """One whole-process run of `which` (stock | ours) in `workdir`."""
    serving = workdir / ("serving" if which == "stock" else "serving/penguins")
    before = (_count_artifacts(workdir / "metadata.db"), _pushed_versions(serving))
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = workdir / f"bench-{int(time.time())}.log"
    started = time.monotonic()
    with open(log, "w") as out:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.bench.child", which, str(workdir), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=PROJECT_ROOT,
        )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"{which} run failed (exit {done.returncode}); log: {log}")
    process = json.loads((workdir / "process.json").read_text())
    return {
        "wall_s": round(wall, 1),
        "peak_rss_mb": process["peak_rss_mb"],
        "components_s": component_seconds(workdir / "metadata.db", PIPELINE_NAMES[which]),
        "new_artifacts": _count_artifacts(workdir / "metadata.db") - before[0],
        "new_pushes": _pushed_versions(serving) - before[1],
    }


def compare(out_dir: Path, say=print) -> dict:
    from pipeline.bench import stock

    stock_dir, ours_dir = out_dir / "stock", out_dir / "ours"
    for path in (stock_dir, ours_dir):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    stock.prepare(_rows(), stock_dir)
    runs = {}
    for label, which, workdir in (
        ("stock first run", "stock", stock_dir),
        ("ours first run", "ours", ours_dir),
        ("stock re-run", "stock", stock_dir),
        ("ours re-run", "ours", ours_dir),
    ):
        say(f"  {label:<18} …", end="", flush=True)
        runs[label] = measure(which, workdir)
        say(f"\r  {label:<18} {runs[label]['wall_s']:7.1f} s")
    report = {
        "stock": {
            "first_run_s": runs["stock first run"]["wall_s"],
            "rerun_s": runs["stock re-run"]["wall_s"],
            "rerun_new_pushes": runs["stock re-run"]["new_pushes"],
            "runs": {"first": runs["stock first run"], "rerun": runs["stock re-run"]},
        },
        "ours": {
            "first_run_s": runs["ours first run"]["wall_s"],
            "rerun_s": runs["ours re-run"]["wall_s"],
            "rerun_new_pushes": runs["ours re-run"]["new_pushes"],
            "runs": {"first": runs["ours first run"], "rerun": runs["ours re-run"]},
        },
    }
    report["ratios"] = {
        "first_run": round(report["ours"]["first_run_s"] / report["stock"]["first_run_s"], 2),
        "rerun": round(report["ours"]["rerun_s"] / report["stock"]["rerun_s"], 2),
    }
    return report


def scale(sizes: list[int], out_dir: Path, say=print) -> list[dict]:
    from pipeline import synthetic

    results = []
    for rows in sizes:
        workdir = out_dir / f"scale-{rows}"
        shutil.rmtree(workdir, ignore_errors=True)
        data = workdir / "data"
        synthetic.write(_rows(), data, rows, spans=1, seed=rows)
        say(f"  ours on {rows:>9,} rows …", end="", flush=True)
        result = {"rows": rows, **measure("ours", workdir, str(data))}
        result["rows_per_s"] = round(rows / result["wall_s"], 1)
        say(f"\r  ours on {rows:>9,} rows {result['wall_s']:8.1f} s")
        results.append(result)
    for smaller, larger in zip(results, results[1:], strict=False):
        larger["growth_exponent"] = round(
            math.log(larger["wall_s"] / smaller["wall_s"])
            / math.log(larger["rows"] / smaller["rows"]),
            2,
        )
    return results


def table(report: dict) -> str:
    stock, ours = report["stock"], report["ours"]
    lines = [
        f"{'':<26}{'stock TFX':>12}{'ours':>12}{'ours/stock':>12}",
        f"{'first run, whole process':<26}{stock['first_run_s']:>11.1f}s"
        f"{ours['first_run_s']:>11.1f}s{report['ratios']['first_run']:>12.2f}",
        f"{'identical re-run':<26}{stock['rerun_s']:>11.1f}s{ours['rerun_s']:>11.1f}s"
        f"{report['ratios']['rerun']:>12.2f}",
        f"{'new pushes on re-run':<26}{stock['rerun_new_pushes']:>12}"
        f"{ours['rerun_new_pushes']:>12}",
        f"{'new artifacts on re-run':<26}{stock['runs']['rerun']['new_artifacts']:>12}"
        f"{ours['runs']['rerun']['new_artifacts']:>12}",
        f"{'peak RSS, first run':<26}{stock['runs']['first']['peak_rss_mb']:>10.0f}MB"
        f"{ours['runs']['first']['peak_rss_mb']:>10.0f}MB",
        "",
        "Per component, first run (s, from MLMD):",
    ]
    components = sorted(
        set(stock["runs"]["first"]["components_s"]) | set(ours["runs"]["first"]["components_s"])
    )
    for name in components:
        s = stock["runs"]["first"]["components_s"].get(name)
        o = ours["runs"]["first"]["components_s"].get(name)
        lines.append(f"  {name:<24}{_cell(s):>12}{_cell(o):>12}")
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def chart(report: dict, path: Path) -> None:
    """Horizontal bars: per-component first-run seconds, stock beside ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stock = report["stock"]["runs"]["first"]["components_s"]
    ours = report["ours"]["runs"]["first"]["components_s"]
    names = sorted(set(stock) | set(ours), key=lambda n: -max(stock.get(n, 0), ours.get(n, 0)))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
    ys = range(len(names))
    ax.barh([y + 0.2 for y in ys], [stock.get(n, 0) for n in names], 0.4, label="stock TFX")
    ax.barh([y - 0.2 for y in ys], [ours.get(n, 0) for n in names], 0.4, label="ours")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("seconds (first run)")
    ratios = report["ratios"]
    ax.set_title(f"first run ours/stock {ratios['first_run']}, re-run {ratios['rerun']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument("--scale", default="", help="Comma-separated row counts, e.g. 10000,100000")
    parser.add_argument("--skip-compare", action="store_true", help="Scale runs only.")
    args = parser.parse_args(argv)
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    if not args.skip_compare:
        print("Benchmark: stock TFX penguin pipeline vs. ours, whole processes")
        report = compare(out_dir)
        print()
        print(table(report))
        chart(report, out_dir / "components.png")
    if args.scale:
        print("Scale: ours on synthetic data, first run")
        report["scale"] = scale([int(s) for s in args.scale.split(",")], out_dir)
        for r in report["scale"]:
            growth = r.get("growth_exponent")
            print(
                f"  {r['rows']:>9,} rows {r['wall_s']:8.1f} s {r['rows_per_s']:>10,.0f} rows/s "
                f"peak {r['peak_rss_mb']:.0f} MB" + (f" growth ×n^{growth}" if growth else "")
            )
    existing = out_dir / "report.json"
    if args.skip_compare and existing.exists():
        report = {**json.loads(existing.read_text()), **report}
    existing.write_text(json.dumps(report, indent=2))
    print(
        f"\nWrote {existing}" + ("" if args.skip_compare else f" and {out_dir / 'components.png'}")
    )


if __name__ == "__main__":
    main()
