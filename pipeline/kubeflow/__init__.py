"""Kubeflow Pipelines: compile, deploy, and the TFX runtime fixes for open-source KFP v2."""
