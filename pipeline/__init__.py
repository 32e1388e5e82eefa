"""The penguin pipeline: graph, configuration, local runner and CLI."""
