"""Baselines found in ML Metadata by a task: the Kubeflow form of two local resolvers."""
