"""Everything a pipeline run is configured by, in one typed object with sensible defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data" / "penguins"
DEFAULT_SCHEMA = PROJECT_ROOT / "schemas" / "penguins" / "schema.pbtxt"
DEFAULT_OUTPUT = Path("outputs")


@dataclasses.dataclass(frozen=True)
class SpanSelection:
    """Which spans a run trains on: the latest (default), one span N, or a range A-B.

    ExampleGen ingests one span per execution, so a range is ingested span by span
    (each one validated) and a resolver hands every span of the range to Transform.
    """

    first: int | None = None
    last: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> SpanSelection:
        if text in (None, "", "latest"):
            return cls()
        first, sep, last = text.partition("-")
        if not sep:
            last = first
        if not (first.isdigit() and last.isdigit()) or not 1 <= int(first) <= int(last):
            raise ValueError(
                f"expected 'latest', a span number N >= 1 or a range A-B with A <= B, got {text!r}"
            )
        return cls(int(first), int(last))

    @property
    def is_range(self) -> bool:
        return self.first != self.last

    def spans(self) -> list[int]:
        """The span numbers selected, empty for 'latest'."""
        return [] if self.last is None else list(range(self.first, self.last + 1))

    def __str__(self) -> str:
        if self.last is None:
            return "latest"
        return f"{self.first}-{self.last}" if self.is_range else str(self.last)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Training and tuning budgets; tests lower them, defaults suit the bundled data."""

    train_steps: int = 300
    eval_steps: int = 10
    tuner_trials: int = 4
    tuner_train_steps: int = 60
    batch_size: int = 32
    seed: int = 42


@dataclasses.dataclass(frozen=True)
class Locations:
    """Where the pipeline's executors read and write: paths, or URIs (gs://, minio://, s3://)."""

    data_root: str
    schema_file: str
    pipeline_root: str
    serving_dir: str


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    pipeline_name: str = "penguins"
    model_name: str = "penguins"
    data_root: Path = DEFAULT_DATA_ROOT
    schema_path: Path = DEFAULT_SCHEMA
    output_dir: Path = DEFAULT_OUTPUT
    spans: SpanSelection = SpanSelection()
    training: TrainingConfig = TrainingConfig()
    # Blessing: absolute floor on accuracy, and no regression against the latest blessed model.
    accuracy_threshold: float = 0.9
    max_accuracy_drop: float = 0.0
    beam_args: tuple[str, ...] = ()
    # Features whose drift this run accepts ("all" for any); recorded in MLMD.
    accept_drift: tuple[str, ...] = ()
    # Set when the executors run elsewhere (Kubeflow); None means the local folders below.
    remote: Locations | None = None

    @property
    def pipeline_root(self) -> Path:
        return self.output_dir / "pipeline"

    @property
    def metadata_path(self) -> Path:
        return self.output_dir / "metadata.db"

    @property
    def serving_dir(self) -> Path:
        return self.output_dir / "serving" / self.model_name

    def locations(self) -> Locations:
        if self.remote is not None:
            return self.remote
        return Locations(
            data_root=str(self.data_root.resolve()),
            schema_file=str(self.schema_path.resolve()),
            pipeline_root=str(self.pipeline_root.resolve()),
            serving_dir=str(self.serving_dir.resolve()),
        )

    def resolved(self) -> PipelineConfig:
        """The same config with absolute paths (TFX records URIs; relative ones break)."""
        return dataclasses.replace(
            self,
            data_root=self.data_root.resolve(),
            schema_path=self.schema_path.resolve(),
            output_dir=self.output_dir.resolve(),
        )
