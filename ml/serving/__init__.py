"""The inference server: SageMaker's container contract, fast and verified.

- `settings`: `ServeSettings`, validated once from the environment SageMaker and the
  Kubernetes Deployment set (`SM_MODEL_DIR`, `SAGEMAKER_BIND_TO_PORT`,
  `MLOPS_SIGNING_PUBLIC_KEY` / `MLOPS_SIGNING_KEY_ID`, ...) and the `mlops serve` options.
- `model`: verify the artifact's signature (`ml.provenance.check`), then compile the
  LightGBM model to native code with lleaves; `Predictor` calls it directly.
- `codec`: request parsing (CSV and JSON, single rows and batches), `Accept`
  negotiation and response encoding; every bad request is a `BadRequest` (4xx + message).
- `app`: the ASGI application (`/ping`, `/invocations`, `/metrics`).
- `telemetry`: structured JSON logs and the per-process latency histogram.
- `server`: uvicorn on uvloop + httptools, one or more worker processes.
- `client`: a small keep-alive HTTP/1.1 client for load generation (canary, benchmark).

Pure logic (`codec`, `telemetry`) imports no AWS; only `model` reaches KMS, through a
client made by `ml.aws` when a KMS key id is configured.
"""
