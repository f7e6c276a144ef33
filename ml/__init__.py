"""The model release pipeline and the `mlops` command line."""
