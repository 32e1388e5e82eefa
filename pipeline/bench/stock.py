"""The stock TFX penguin example (`tfx.examples.penguin.penguin_pipeline_local`), fed the
same penguins prepared the way it expects: its processed CSV (four numeric columns named
culmen_length_mm, culmen_depth_mm, flipper_length_mm, body_mass_g, min-max scaled to [0, 1];
species as an integer; rows with a missing value dropped) and a user schema inferred once
by TFDV from that CSV, so that its ExampleValidator runs."""

from __future__ import annotations

import csv
from pathlib import Path

from models import features

RENAMED = {
    "bill_length_mm": "culmen_length_mm",
    "bill_depth_mm": "culmen_depth_mm",
    "flipper_length_mm": "flipper_length_mm",
    "body_mass_g": "body_mass_g",
}


def processed_rows(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """The stock example's processed penguins: scaled numerics, integer species."""
    complete = [r for r in rows if all(r[k] for k in (*RENAMED, features.LABEL_KEY))]
    bounds = {
        k: (min(float(r[k]) for r in complete), max(float(r[k]) for r in complete)) for k in RENAMED
    }
    result = []
    for row in complete:
        out: dict[str, object] = {"species": features.SPECIES.index(row["species"])}
        for key, name in RENAMED.items():
            low, high = bounds[key]
            out[name] = (float(row[key]) - low) / (high - low)
        result.append(out)
    return result


def prepare(rows: list[dict[str, str]], workdir: Path) -> tuple[Path, Path]:
    """Writes the processed CSV and the inferred schema; returns (data_root, schema_dir)."""
    import tensorflow_data_validation as tfdv

    data_root = workdir / "stock-data"
    labelled = data_root / "labelled"  # where the stock ExampleGen looks
    labelled.mkdir(parents=True, exist_ok=True)
    processed = processed_rows(rows)
    columns = ["species", *RENAMED.values()]
    with open(labelled / "penguins_processed.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(processed)
    schema_dir = workdir / "stock-schema"
    schema_dir.mkdir(parents=True, exist_ok=True)
    statistics = tfdv.generate_statistics_from_csv(str(labelled / "penguins_processed.csv"))
    tfdv.write_schema_text(tfdv.infer_schema(statistics), str(schema_dir / "schema.pbtxt"))
    return data_root, schema_dir


def run(workdir: Path) -> None:
    """One run of the stock pipeline, tuning on, user schema, under `workdir`."""
    from tfx import v1 as tfx
    from tfx.examples.penguin import penguin_pipeline_local

    module_file = Path(penguin_pipeline_local.__file__).with_name("penguin_utils_keras.py")
    pipeline = penguin_pipeline_local.create_pipeline(
        pipeline_name="penguin_local",
        pipeline_root=str(workdir / "pipeline"),
        data_root=str(workdir / "stock-data"),
        module_file=str(module_file),
        accuracy_threshold=0.6,
        serving_model_dir=str(workdir / "serving"),
        metadata_path=str(workdir / "metadata.db"),
        user_provided_schema_path=str(workdir / "stock-schema" / "schema.pbtxt"),
        enable_tuning=True,
        enable_bulk_inferrer=False,
        enable_example_diff=False,
        examplegen_input_config=None,
        examplegen_range_config_date=None,
        resolver_range_config=None,
        beam_pipeline_args=["--direct_running_mode=in_memory"],
        enable_transform_input_cache=False,
    )
    tfx.orchestration.LocalDagRunner().run(pipeline)
