"""Errors the gates raise, in a module light enough for the runner to import up front."""


class DataAnomaliesError(RuntimeError):
    """The examples do not conform to the schema, or drifted beyond its thresholds."""
