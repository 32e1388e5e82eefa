"""InfraValidator that needs no Docker: serves the SavedModel in a separate process."""
