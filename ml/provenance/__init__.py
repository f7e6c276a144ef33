"""Provenance: KMS-signed, offline-verifiable model artifacts.

A signature is a DSSE envelope over an in-toto Statement v1 whose subjects are the
artifact's files (path, SHA-256, size) and whose predicate is SLSA Provenance v1
(git commit, training data hash, hyperparameters, training job, metrics, builder).
Layers: `manifest`, `statement`, `envelope` are pure; `builder` fills in the provenance
from the model card, git and GitHub Actions; `kms` is the KMS adapter; `sign`
(`sign_to_file`) and `check` compose them. Release and serving call `ml.provenance.check`
(`verify_artifact`, `offline_verifier`, `kms_verifier`); the check of a registered
version is `ml.registry.check.check_model_package`.

This package imports nothing itself, so its pure modules load without the adapters.
"""
