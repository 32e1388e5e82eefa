"""Human-readable progress lines and the end-of-run summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from pipeline.runner import NodeReport, RunReport

WIDTH = 28  # fits "ExampleValidator [span 12]"


def start_printer(stream: TextIO) -> Callable[[str], None]:
    """Shows `<component> …` while a component runs, on a terminal only."""

    def show(label: str) -> None:
        if stream.isatty():
            stream.write(f"  {label:<{WIDTH}} …")
            stream.flush()

    return show


def node_line(node: NodeReport) -> str:
    """A component's progress line (overwrites the `…` line on a terminal)."""
    state = "FAILED" if node.state == "failed" else node.state
    return f"\r  {node.label:<{WIDTH}} {state:<8} {node.seconds:6.1f} s"


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def render(report: RunReport) -> str:
    ran = sum(n.state == "ran" for n in report.nodes)
    cached = sum(n.state == "cached" for n in report.nodes)
    lines = [
        "",
        f"Run {report.run_id} completed in {report.seconds:.1f} s ({ran} ran, {cached} cached).",
    ]
    if report.spans:
        lines.append(f"Trained on span(s) {', '.join(map(str, report.spans))}.")
    push = report.push
    if push.get("pushed"):
        lines.append(f"Pushed: version {push['version']} → {push['path']}")
    elif push.get("version") is not None:
        lines.append(
            f"Nothing pushed: {push['reason']}, version {push['version']} ({push['path']})."
        )
    else:
        lines.append(f"Nothing pushed: {push.get('reason', 'unknown')}.")
    for name, blessing in report.blessings.items():
        verdict = "blessed" if blessing["blessed"] else "NOT blessed"
        extra = ""
        if name == "infra" and blessing.get("load_seconds") is not None:
            p50, p95 = blessing.get("latency_p50_ms", 0), blessing.get("latency_p95_ms", 0)
            extra = (
                f" (load {blessing['load_seconds']:.2f} s,"
                f" latency p50 {p50:.1f} ms, p95 {p95:.1f} ms)"
            )
        if name == "infra" and not blessing["blessed"]:
            extra = f": {blessing.get('reason', '')}"
        lines.append(f"{name.capitalize()} blessing: {verdict}{extra}")
    if report.metrics:
        lines.append("Metrics (candidate model):")
        lines.append(f"  {'slice':<24} {'accuracy':>9} {'examples':>9}")
        for slice_name, values in report.metrics.items():
            accuracy = values.get("sparse_categorical_accuracy")
            count = values.get("example_count")
            lines.append(
                f"  {slice_name:<24} {_fmt(accuracy):>9} {_fmt(int(count) if count else '-'):>9}"
            )
    lines.append("Artifacts:")
    for name, path in report.paths.items():
        lines.append(f"  {name:<14} {path}")
    return "\n".join(lines)
