"""One benchmarked pipeline process: `python -m pipeline.bench.child stock|ours WORKDIR`.

Runs the pipeline in this process, then writes `WORKDIR/process.json` with its peak RSS
(this process and its children, e.g. the InfraValidator's model server)."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    which, workdir = sys.argv[1], Path(sys.argv[2])
    if which == "stock":
        from pipeline.bench import stock

        stock.run(workdir)
    else:
        from pipeline import runner
        from pipeline.config import PipelineConfig

        data_root = Path(sys.argv[3]) if len(sys.argv) > 3 else None
        config = PipelineConfig(output_dir=workdir)
        if data_root is not None:
            config = PipelineConfig(output_dir=workdir, data_root=data_root)
        runner.run(config)
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    (workdir / "process.json").write_text(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1)}))


if __name__ == "__main__":
    main()
