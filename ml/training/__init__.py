"""Training: the SageMaker entry point, checkpoints, the artifact, local and spot launchers.

- `ml.training.entry`: `python -m ml.training`, the container contract.
- `ml.training.trainer.train_booster`: boosting with checkpoint/resume (pure).
- `ml.training.checkpoint.CheckpointStore`: atomic checkpoints, configuration check.
- `ml.training.artifact`: `write_artifact` / `load_artifact` (`model.txt` + `model.json`).
- `ml.training.native.NativeBooster`: a model predicted through LightGBM's C library,
  without importing the `lightgbm` package (validation and the server's explanations).
- `ml.training.local.run_local`: the entry point as a local process, same layout.
- `ml.training.sagemaker`: managed spot training jobs through the `sagemaker` SDK.
- `ml.training.record.TrainingRecord`: training time and spot savings for the registry.
"""
