"""Differences between two schemas (curated vs. inferred), feature by feature."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import mlmd
from pipeline.config import PipelineConfig


@dataclasses.dataclass(frozen=True)
class Difference:
    feature: str
    aspect: str  # presence of the feature, type, domain, values, presence, shape, environment
    curated: str
    inferred: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load(path: Path) -> schema_pb2.Schema:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such schema file")
    try:
        return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())
    except text_format.ParseError as e:
        raise ValueError(f"{path}: not a text-format Schema proto: {e}") from None


def latest_inferred_schema(output_dir: Path) -> Path:
    """schema.pbtxt of the newest SchemaGen output recorded in `output_dir`'s MLMD."""
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    db = PipelineConfig(output_dir=output_dir).metadata_path
    if not db.is_file():
        raise FileNotFoundError(
            f"{db}: no metadata store; run the pipeline first or pass --inferred"
        )
    store = metadata_store.MetadataStore(
        metadata.sqlite_metadata_connection_config(str(db)), read_only=True
    )
    producers = [
        c for c in store.get_contexts_by_type(mlmd.NODE_CONTEXT) if c.name.endswith(".SchemaGen")
    ]
    schemas = [
        a
        for c in producers
        for a in store.get_artifacts_by_context(c.id)
        if store.get_artifact_type("Schema") and a.type_id == store.get_artifact_type("Schema").id
    ]
    if not schemas:
        raise FileNotFoundError(f"{db}: no SchemaGen output recorded yet")
    newest = max(schemas, key=lambda a: a.id)
    return Path(newest.uri) / "schema.pbtxt"


def _domain(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> str:
    kind = feature.WhichOneof("domain_info")
    if kind is None:
        return "none"
    if kind == "domain":
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return "{" + ", ".join(sorted(domain.value)) + "}"
        return f"{feature.domain} (undefined)"
    value = getattr(feature, kind)
    if kind == "string_domain":
        return "{" + ", ".join(sorted(value.value)) + "}"
    return " ".join(text_format.MessageToString(value, as_one_line=True).split()) or kind


def _aspects(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> dict[str, str]:
    return {
        "type": schema_pb2.FeatureType.Name(feature.type),
        "domain": _domain(schema, feature),
        "presence": text_format.MessageToString(feature.presence, as_one_line=True) or "unset",
        "value count": text_format.MessageToString(feature.value_count, as_one_line=True)
        or "unset",
        "shape": text_format.MessageToString(feature.shape, as_one_line=True) or "unset",
        "environments": ", ".join(f"not in {e}" for e in feature.not_in_environment) or "all",
    }


def diff(curated: schema_pb2.Schema, inferred: schema_pb2.Schema) -> list[Difference]:
    by_name = {
        "curated": {f.name: f for f in curated.feature},
        "inferred": {f.name: f for f in inferred.feature},
    }
    result = []
    for name in sorted(by_name["curated"].keys() | by_name["inferred"].keys()):
        c, i = by_name["curated"].get(name), by_name["inferred"].get(name)
        if c is None or i is None:
            result.append(
                Difference(
                    name, "feature", "present" if c else "absent", "present" if i else "absent"
                )
            )
            continue
        ca, ia = _aspects(curated, c), _aspects(inferred, i)
        result += [Difference(name, k, ca[k], ia[k]) for k in ca if ca[k] != ia[k]]
    return result


def render(differences: list[Difference], curated: Path, inferred: Path) -> str:
    if not differences:
        return f"No differences between {curated} and {inferred}."
    width = max(len(d.feature) for d in differences)
    lines = [f"curated:  {curated}", f"inferred: {inferred}", ""]
    lines.append(f"{'feature':<{width}}  {'aspect':<12}  {'curated':<40}  inferred")
    for d in differences:
        lines.append(f"{d.feature:<{width}}  {d.aspect:<12}  {d.curated:<40}  {d.inferred}")
    return "\n".join(lines)
