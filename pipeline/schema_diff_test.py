from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import schema_diff
from pipeline.config import DEFAULT_SCHEMA


def test_curated_schema_equals_itself():
    curated = schema_diff.load(DEFAULT_SCHEMA)
    assert schema_diff.diff(curated, curated) == []


def test_differences_name_feature_and_aspect():
    curated = schema_diff.load(DEFAULT_SCHEMA)
    inferred = schema_pb2.Schema()
    inferred.CopyFrom(curated)
    island = next(f for f in inferred.feature if f.name == "island")
    island.type = schema_pb2.INT
    next(d for d in inferred.string_domain if d.name == "sex").value.append("unknown")
    extra = inferred.feature.add(name="colour", type=schema_pb2.BYTES)
    del extra
    found = {(d.feature, d.aspect) for d in schema_diff.diff(curated, inferred)}
    assert found == {("island", "type"), ("sex", "domain"), ("colour", "feature")}


def test_unparseable_schema_fails_with_the_file_name(tmp_path):
    bad = tmp_path / "schema.pbtxt"
    bad.write_text("feature { nme: 'x' }")
    try:
        schema_diff.load(bad)
    except ValueError as e:
        assert str(bad) in str(e)
    else:
        raise AssertionError("expected ValueError")
