"""Lineage for people: text tables and trees for the terminal; the graph as DOT, as SVG
(laid out here, in layers, so that no Graphviz install is needed) and as one
self-contained HTML page (inline SVG and CSS, nothing fetched)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from pipeline.lineage.api import Diff, Impact, RunSummary, Trace
from pipeline.lineage.graph import CHECKS, NOT_FOLLOWED, SIBLINGS, ArtifactNode, Lineage

MAX_VALUE = 60  # characters of a property value shown in a tree line or a graph label


def to_json(data) -> str:
    return json.dumps(data, indent=2, default=str)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Left-aligned columns, two spaces apart, headers in capitals."""
    cells = [[str(h).upper() for h in headers]] + [
        ["-" if c in (None, "") else str(c) for c in r] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _short(value) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _props(artifact: ArtifactNode) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in artifact.properties.items())


# -- runs ---------------------------------------------------------------------------------------


def runs_text(summaries: list[RunSummary]) -> str:
    if not summaries:
        return "No pipeline runs in this store."
    rows = []
    for s in summaries:
        failed = [c for c, state in s.components.items() if state == "failed"]
        state = f"{s.state} ({', '.join(failed)})" if failed else s.state
        rows.append(
            [
                s.name,
                s.started.replace("T", " "),
                f"{s.seconds:.1f} s",
                state,
                f"v{s.pushed_version}" if s.pushed_version is not None else "",
                len(s.ran),
                ", ".join(s.cached),
            ]
        )
    return table(["run", "started", "took", "state", "pushed", "ran", "cached"], rows)


# -- trace --------------------------------------------------------------------------------------


def trace_text(trace: Trace) -> str:
    target, made_by = trace.target, trace.made_by
    lines = [
        f"{target.label}"
        + (f": serving version {trace.version}" if trace.version is not None else "")
    ]
    if made_by:
        lines.append(f"made by {made_by.component} (execution {made_by.id}) in run {made_by.run}")
    lines += _blessings_lines(trace.blessings)
    if trace.hyperparameters:
        values = ", ".join(f"{k}={v}" for k, v in trace.hyperparameters.items())
        lines.append(f"Hyperparameters: {values}")
    lines += _metrics_lines(trace.metrics, trace.metrics_note)
    lines += ["", "Lineage (upstream; ← made by):"]
    lines += tree_lines(trace.lineage, target.id)
    return "\n".join(lines)


def _blessings_lines(blessings: dict) -> list[str]:
    lines = []
    for name, blessing in blessings.items():
        verdict = "blessed" if blessing["blessed"] else "NOT blessed"
        details = ", ".join(
            f"{k}={_short(v)}"
            for k, v in blessing.items()
            if k not in ("blessed", "artifact", "by")
        )
        lines.append(
            f"{name.capitalize()} blessing: {verdict} by {blessing['by']}"
            f" (artifact {blessing['artifact']})" + (f": {details}" if details else "")
        )
    return lines


def _metrics_lines(metrics: dict, note: str) -> list[str]:
    if not metrics:
        return [f"Metrics: none ({note})"] if note else []
    rows = [
        [
            name,
            _number(values.get("sparse_categorical_accuracy")),
            _number(values.get("example_count")),
        ]
        for name, values in metrics.items()
    ]
    body = table(["slice", "accuracy", "examples"], rows)
    return ["Metrics (candidate model):"] + ["  " + line for line in body.splitlines()]


def _number(value) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def tree_lines(lineage: Lineage, root: int) -> list[str]:
    """The lineage as a tree from `root` upward: under each artifact, what it was made
    from, what was made beside it, and the checks on it. Artifacts that one execution
    made under one key share a line; a repeat says it was shown above."""
    lines: list[str] = []
    shown: set[int] = set()

    def visit(item: Item, prefix: str, last: bool, depth: int, parent: int | None = None) -> None:
        key, ids, kind = item
        artifact = lineage.artifacts[ids[0]]
        labels = artifact.label + "".join(f", #{i}" for i in ids[1:])
        branch = "" if depth == 0 else ("└─ " if last else "├─ ")
        head = f"{prefix}{branch}{key + ': ' if key else ''}{labels}"
        if set(ids) <= shown or kind == "beside":
            lines.append(head + (" (shown above)" if set(ids) <= shown else ""))
            shown.update(ids)
            return
        shown.update(ids)
        producer = lineage.producer(ids[0])
        made = f"  ← {producer.component} [{producer.state}] run {producer.run}" if producer else ""
        if key in NOT_FOLLOWED:
            made = "  (from an earlier run; not followed)"
        lines.append(head + made)
        inner = prefix + ("" if depth == 0 else ("   " if last else "│  "))
        # A check's own input is the artifact it hangs under: not repeated.
        children = [c for c in _children(lineage, ids[0]) if c[1] != (parent,)]
        bar = "│  " if children else "   "
        for i in ids:
            node = lineage.artifacts[i]
            details = [_props(node), f"uri {node.uri}" if node.uri else ""]
            lines.extend(f"{inner}{bar}{d}" for d in details if d)
        for n, child in enumerate(children):
            visit(child, inner, n == len(children) - 1, depth + 1, ids[0])

    visit(("", (root,), "input"), "", True, 0)
    return lines


Item = tuple  # (key, artifact ids, kind): kind is input | beside | check
KEY_ORDER = ("model", "examples", "transform_graph", "hyperparameters", "schema")


def _children(lineage: Lineage, artifact_id: int) -> list[Item]:
    """What an artifact was made from (its producer's inputs, those one execution made
    under one key together), what was made beside it (an evaluation next to a
    blessing), and the checks made from it (statistics of examples, their anomalies)."""
    groups: dict[tuple[str, int | None, str], list[int]] = {}
    producer = lineage.producer(artifact_id)
    if producer:
        for edge in lineage.inputs(producer.id):
            made_by = lineage.producer(edge.artifact)
            groups.setdefault((edge.key, made_by.id if made_by else None, "input"), []).append(
                edge.artifact
            )
        for edge in lineage.outputs(producer.id):
            if edge.key in SIBLINGS and edge.artifact != artifact_id:
                groups.setdefault((edge.key, producer.id, "beside"), []).append(edge.artifact)
    for edge in lineage.edges:
        if edge.artifact != artifact_id or edge.direction != "in":
            continue
        for out in lineage.outputs(edge.execution):
            if CHECKS.get(out.key) == edge.key:
                checker = lineage.executions[edge.execution].component
                groups.setdefault((f"checked by {checker}", edge.execution, "check"), []).append(
                    out.artifact
                )

    def order(group) -> tuple:
        key, _, kind = group
        rank = KEY_ORDER.index(key) if key in KEY_ORDER else len(KEY_ORDER)
        return (kind == "check", kind == "beside", rank, key, min(groups[group]))

    return [
        (key, tuple(sorted(set(groups[g]))), kind)
        for g in sorted(groups, key=order)
        for key, _, kind in [g]
    ]


# -- impact and diff ------------------------------------------------------------------------------


def impact_text(result: Impact) -> str:
    source = result.source
    lines = [f"{source.label} {_props(source)}".rstrip(), f"uri {source.uri}", ""]
    models = ", ".join(f"Model #{m}" for m in result.models) or "none"
    lines.append(f"Models made from it: {models}")
    if result.pushes:
        lines.append("Pushed:")
        lines += [
            f"  v{p['version']} (artifact {p['artifact']}, run {p['run']})" for p in result.pushes
        ]
    else:
        lines.append("Pushed: none")
    lines.append(f"Runs that used it: {len(result.runs)}")
    lines += [f"  {run}" for run in result.runs]
    rows = [
        [e.component, e.id, e.state, e.run, ", ".join(o.key for o in result.lineage.outputs(e.id))]
        for e in result.lineage.executions.values()
    ]
    lines += [
        "",
        "Downstream executions:",
        table(["component", "execution", "state", "run", "made"], rows),
    ]
    return "\n".join(lines)


def diff_text(result: Diff) -> str:
    a, b = result.a, result.b
    lines = [f"A: {a.run}", f"B: {b.run}", ""]
    if not result.changes:
        return "\n".join(lines + ["No differences."])
    rows = [[c.what, _short(c.a), _short(c.b)] for c in result.changes]
    return "\n".join(lines + [table(["what", "A", "B"], rows)])


# -- the graph: DOT -------------------------------------------------------------------------------


# Properties a graph label shows: what tells one artifact of a type from another.
LABEL_KEYS = {
    "Examples": ("span", "version"),
    "ModelBlessing": ("blessed",),
    "InfraBlessing": ("blessed",),
    "PushedModel": ("pushed", "serving_version"),
    "penguins.DriftReport": ("drifted", "blocking"),
}


def _artifact_lines(artifact: ArtifactNode) -> list[str]:
    keys = LABEL_KEYS.get(artifact.type, ())
    return [artifact.label] + [
        f"{k}={_short(v)}" for k, v in artifact.properties.items() if k in keys
    ]


def _nodes(lineage: Lineage) -> dict[str, list[str]]:
    """Node id -> label lines, artifacts as `a<id>`, executions as `e<id>`."""
    nodes = {f"a{a.id}": _artifact_lines(a) for a in lineage.artifacts.values()}
    for e in lineage.executions.values():
        nodes[f"e{e.id}"] = [e.component, f"execution {e.id} · {e.state}"]
    return nodes


def _links(lineage: Lineage) -> list[tuple[str, str, str]]:
    return [
        (f"a{e.artifact}", f"e{e.execution}", e.key)
        if e.direction == "in"
        else (f"e{e.execution}", f"a{e.artifact}", e.key)
        for e in lineage.edges
    ]


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(lineage: Lineage, title: str = "lineage", highlight: int | None = None) -> str:
    lines = [
        "digraph lineage {",
        f'  label="{_dot_text(title)}"; labelloc=t; rankdir=TB;',
        '  node [fontname="Helvetica", fontsize=10]; edge [fontname="Helvetica", fontsize=8];',
    ]
    for node_id, label_lines in _nodes(lineage).items():
        label = "\\n".join(_dot_text(line) for line in label_lines)
        fill = _fill(lineage, node_id)
        shape = "box" if node_id.startswith("e") else "ellipse"
        width = ", penwidth=3" if node_id == f"a{highlight}" else ""
        lines.append(
            f'  {node_id} [label="{label}", shape={shape}, style="filled,rounded", '
            f'fillcolor="{fill}"{width}];'
        )
    for source, target, key in _links(lineage):
        lines.append(f'  {source} -> {target} [label="{_dot_text(key)}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


COLORS = {
    "data": "#dbeafe",  # Examples, Schema, statistics, anomalies
    "model": "#dcfce7",  # transform graph, hyperparameters, model
    "decision": "#ffedd5",  # blessings, evaluations, pushes
    "execution": "#f3f4f6",
    "failed": "#fecaca",
}
DATA_TYPES = {"Examples", "Schema", "ExampleStatistics", "ExampleAnomalies"}
DECISION_TYPES = {"ModelBlessing", "InfraBlessing", "ModelEvaluation", "PushedModel"}


def _fill(lineage: Lineage, node_id: str) -> str:
    number = int(node_id[1:])
    if node_id.startswith("e"):
        return COLORS["failed" if lineage.executions[number].state == "failed" else "execution"]
    type_name = lineage.artifacts[number].type
    if type_name in DATA_TYPES:
        return COLORS["data"]
    return COLORS["decision" if type_name in DECISION_TYPES else "model"]


# -- the graph: SVG, laid out in layers -----------------------------------------------------------

CHAR_WIDTH, LINE_HEIGHT, PAD = 6.6, 14, 8
LAYER_GAP, NODE_GAP, MARGIN = 56, 18, 20
BOLD = ' font-weight="bold"'


def _layers(nodes: list[str], links: list[tuple[str, str, str]]) -> list[list[str]]:
    """Longest-path layering (every edge points down), then a few barycenter sweeps so
    that connected nodes sit near each other."""
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target, _ in links:
        parents[target].append(source)
        children[source].append(target)
    depth: dict[str, int] = {}

    def layer_of(node: str, visiting: frozenset = frozenset()) -> int:
        if node not in depth:
            ups = [p for p in parents[node] if p not in visiting]
            depth[node] = 1 + max((layer_of(p, visiting | {node}) for p in ups), default=-1)
        return depth[node]

    for node in nodes:
        layer_of(node)
    layers = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in nodes:
        layers[depth[node]].append(node)
    for sweep in range(4):
        down = sweep % 2 == 0
        order = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for i in order:
            neighbour_layer = layers[i - 1] if down else layers[i + 1]
            position = {n: k for k, n in enumerate(neighbour_layer)}
            links_of = parents if down else children

            def barycenter(node: str, position=position, links_of=links_of) -> float:
                near = [position[n] for n in links_of[node] if n in position]
                return sum(near) / len(near) if near else float("inf")

            layers[i].sort(key=barycenter)
    return layers


def _size(label_lines: list[str]) -> tuple[float, float]:
    width = max(len(line) for line in label_lines) * CHAR_WIDTH + 2 * PAD
    return width, len(label_lines) * LINE_HEIGHT + PAD


def _positions(layers, labels) -> tuple[dict[str, tuple[float, float, float, float]], float, float]:
    """Node -> (x, y, width, height); each layer centred on the widest."""
    sizes = {n: _size(labels[n]) for layer in layers for n in layer}
    widths = [sum(sizes[n][0] for n in layer) + NODE_GAP * (len(layer) - 1) for layer in layers]
    total_width = max(widths, default=0) + 2 * MARGIN
    boxes, y = {}, MARGIN + 20
    for layer, width in zip(layers, widths, strict=True):
        x = (total_width - width) / 2
        height = max(sizes[n][1] for n in layer)
        for node in layer:
            w, h = sizes[node]
            boxes[node] = (x, y + (height - h) / 2, w, h)
            x += w + NODE_GAP
        y += height + LAYER_GAP
    return boxes, total_width, y - LAYER_GAP + MARGIN


def to_svg(lineage: Lineage, title: str = "lineage", highlight: int | None = None) -> str:
    labels = _nodes(lineage)
    links = _links(lineage)
    layers = _layers(list(labels), links)
    boxes, width, height = _positions(layers, labels)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/>'
        "</marker></defs>",
        f'<text x="{MARGIN}" y="{MARGIN + 4}" font-size="14"{BOLD}>{html.escape(title)}</text>',
    ]
    for source, target, key in links:
        out.append(_svg_edge(boxes[source], boxes[target], key))
    for node, (x, y, w, h) in boxes.items():
        out.append(_svg_node(lineage, node, labels[node], (x, y, w, h), node == f"a{highlight}"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_edge(source, target, key: str) -> str:
    sx, sy = source[0] + source[2] / 2, source[1] + source[3]
    tx, ty = target[0] + target[2] / 2, target[1]
    bend = max(20.0, (ty - sy) / 2)
    path = (
        f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + bend:.1f} {tx:.1f},{ty - bend:.1f} {tx:.1f},{ty:.1f}"
    )
    mx, my = (sx + tx) / 2, (sy + ty) / 2
    return (
        f'<g class="edge"><title>{html.escape(key)}</title>'
        f'<path d="{path}" fill="none" stroke="#9ca3af" stroke-width="1.2" '
        'marker-end="url(#arrow)"/>'
        f'<text x="{mx:.1f}" y="{my:.1f}" font-size="9" fill="#6b7280" text-anchor="middle">'
        f"{html.escape(key)}</text></g>"
    )


def _svg_node(lineage: Lineage, node: str, label_lines: list[str], box, highlighted: bool) -> str:
    x, y, w, h = box
    number = int(node[1:])
    if node.startswith("a"):
        artifact = lineage.artifacts[number]
        tooltip = f"{artifact.label}\n{artifact.uri}\n{_props(artifact)}"
        radius = h / 2
    else:
        execution = lineage.executions[number]
        tooltip = f"{execution.label}\nrun {execution.run}\n{execution.state}"
        radius = 3
    stroke = (
        'stroke="#111827" stroke-width="2.5"'
        if highlighted
        else 'stroke="#6b7280" stroke-width="1"'
    )
    text = "".join(
        f'<text x="{x + w / 2:.1f}" y="{y + PAD / 2 + LINE_HEIGHT * (i + 0.8):.1f}" '
        f'text-anchor="middle"{BOLD if i == 0 else ""}>{html.escape(line)}</text>'
        for i, line in enumerate(label_lines)
    )
    return (
        f'<g class="node" id="{node}"><title>{html.escape(tooltip)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius:.1f}" '
        f'fill="{_fill(lineage, node)}" {stroke}/>{text}</g>'
    )


# -- the graph: one HTML page ---------------------------------------------------------------------

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #111827; }
h1 { font-size: 20px; } pre { background: #f9fafb; padding: 12px; overflow-x: auto; }
.graph { overflow-x: auto; border: 1px solid #e5e7eb; padding: 8px; }
table { border-collapse: collapse; font-size: 12px; margin-top: 16px; }
th, td { border: 1px solid #e5e7eb; padding: 4px 8px; text-align: left; vertical-align: top; }
.node:hover rect { stroke: #2563eb; stroke-width: 2; }
"""


def to_html(lineage: Lineage, title: str, summary: str = "", highlight: int | None = None) -> str:
    """A page that needs nothing else: the SVG graph, the summary text, and every node
    with its URI and properties in a table."""
    rows = "".join(
        f"<tr><td>{a.id}</td><td>{html.escape(a.type)}</td>"
        f"<td>{html.escape(_made_by(lineage, a.id))}</td>"
        f"<td>{html.escape(a.uri)}</td><td>{html.escape(_props(a))}</td></tr>"
        for a in lineage.artifacts.values()
    )
    summary_block = f"<pre>{html.escape(summary)}</pre>" if summary else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{summary_block}"
        f'<div class="graph">{to_svg(lineage, title, highlight)}</div>'
        "<table><tr><th>artifact</th><th>type</th><th>made by</th><th>uri</th>"
        "<th>properties</th></tr>"
        f"{rows}</table></body></html>\n"
    )


def _made_by(lineage: Lineage, artifact_id: int) -> str:
    producer = lineage.producer(artifact_id)
    return f"{producer.component} (run {producer.run})" if producer else ""
