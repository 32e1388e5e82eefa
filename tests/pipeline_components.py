"""The components every test expects in the pipeline, spelled once."""

COMPONENTS = frozenset(
    {
        "CsvExampleGen",
        "StatisticsGen",
        "SchemaGen",
        "ImportSchemaGen",
        "ExampleValidator",
        "DriftValidator",
        "DataGate",
        "Transform",
        "Tuner",
        "Trainer",
        "Evaluator",
        "InfraValidator",
        "Pusher",
    }
)
