"""Text, DOT, SVG and HTML renderings of a lineage: well formed and self-contained."""

import xml.etree.ElementTree as ElementTree

import pytest

from pipeline.lineage import api, render
from pipeline.lineage.store import open_store
from pipeline.lineage.synthetic import demo_store


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    store = open_store(demo_store(tmp_path_factory.mktemp("render")))
    return api.trace(store, "latest", with_metrics=False)


def test_table_aligns_columns_and_shows_blanks_as_dashes():
    text = render.table(["name", "n"], [["a", 1], ["long name", None]])
    assert text.splitlines() == ["NAME       N", "a          1", "long name  -"]


def test_trace_text_tells_the_story_upward(trace):
    text = render.trace_text(trace)
    lines = text.splitlines()
    assert lines[0] == f"PushedModel #{trace.target.id}: serving version 2"
    assert "Model blessing: blessed by Evaluator" in text
    assert "Infra blessing: blessed by InfraValidator" in text
    assert "Hyperparameters: hidden_units=16, hidden_layers=1, learning_rate=0.003" in text
    assert "├─ model: Model #" in text and "← Trainer [ran] run run-2" in text
    assert "checked by StatisticsGen: ExampleStatistics" in text
    assert "checked by ExampleValidator: ExampleAnomalies" in text
    assert "checked by DriftValidator: penguins.DriftReport" in text
    assert "baseline_model: Model #" in text and "not followed" in text
    # Each artifact is described once; later mentions point back.
    described = [line for line in lines if "← " in line]
    assert len(described) == len({line.split("← ")[0].split(": ", 1)[-1] for line in described})


def test_dot_has_a_node_per_artifact_and_execution_and_an_edge_per_event(trace):
    dot = render.to_dot(trace.lineage, "lineage", trace.target.id)
    lineage = trace.lineage
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count(" -> ") == len(lineage.edges)
    for artifact_id in lineage.artifacts:
        assert f"  a{artifact_id} [" in dot
    assert f"  a{trace.target.id} [" in dot and "penwidth=3" in dot


def test_svg_is_well_formed_and_places_every_node(trace):
    svg = render.to_svg(trace.lineage, "lineage <latest>", trace.target.id)
    root = ElementTree.fromstring(svg)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    nodes = root.findall(".//svg:g[@class='node']", ns)
    assert len(nodes) == len(trace.lineage.artifacts) + len(trace.lineage.executions)
    assert len(root.findall(".//svg:g[@class='edge']", ns)) == len(trace.lineage.edges)
    boxes = [node.find("svg:rect", ns).attrib for node in nodes]
    assert all(float(b["width"]) > 0 and float(b["x"]) >= 0 for b in boxes)
    assert "lineage &lt;latest&gt;" in svg


def test_svg_edges_point_down_the_layers(trace):
    labels = render._nodes(trace.lineage)
    links = render._links(trace.lineage)
    layers = render._layers(list(labels), links)
    depth = {node: i for i, layer in enumerate(layers) for node in layer}
    assert all(depth[source] < depth[target] for source, target, _ in links)


def test_html_page_is_self_contained(trace):
    page = render.to_html(trace.lineage, "lineage", "summary & more", trace.target.id)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "summary &amp; more" in page
    for external in ("http://", "https://", "<script src", "<link"):
        assert external not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
