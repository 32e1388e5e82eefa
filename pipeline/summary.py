"""Human-readable progress lines and the end-of-run summary."""

from __future__ import annotations

from typing import TextIO

from pipeline.runner import NodeReport, RunReport

WIDTH = 28  # fits "ExampleValidator [span 12]"


class Progress:
    """One line per component as it ends; on a terminal, also `<component> …` for the
    components running meanwhile (one or two), rewritten as they start and end."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._running: list[str] = []

    def start(self, label: str) -> None:
        self._running.append(label)
        self._show()

    def end(self, node: NodeReport) -> None:
        if node.label in self._running:
            self._running.remove(node.label)
        if self._stream.isatty():
            self._stream.write("\r\033[K")  # clear the `…` line
        self._stream.write(node_line(node) + "\n")
        self._show()

    def _show(self) -> None:
        if self._running and self._stream.isatty():
            self._stream.write(f"\r\033[K  {', '.join(self._running):<{WIDTH}} …")
            self._stream.flush()


def node_line(node: NodeReport) -> str:
    """A component's progress line."""
    state = "FAILED" if node.state == "failed" else node.state
    return f"  {node.label:<{WIDTH}} {state:<8} {node.seconds:6.1f} s"


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
