"""The quality tests' shared cases: one data-capture line as AWS documents it, and six
scored requests with their labels (the in-process and the emulated tests judge the same)."""

from __future__ import annotations

# One record as the SageMaker developer guide shows captured data (the endpoint's input
# and output, base64 off), with the caller's InferenceId.
AWS_CAPTURE_LINE = (
    '{"captureData":{"endpointInput":{"observedContentType":"text/csv","mode":"INPUT",'
    '"data":"69,0,153.7,109,194.0,105,256.1,114,14.1,6,5,0,1,0,0","encoding":"CSV"},'
    '"endpointOutput":{"observedContentType":"text/csv; charset=utf-8","mode":"OUTPUT",'
    '"data":"0.0254181120544672","encoding":"CSV"}},"eventMetadata":{"eventId":'
    '"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","inferenceId":"order-0","inferenceTime":'
    '"2026-01-06T17:39:37Z"},"eventVersion":"0"}'
)

# (inference id, captured probability, true label): accuracy 4/6 (d and f wrong at 0.5),
# ROC AUC 8/9 (of the 9 positive-negative pairs only f=0.4 < d=0.6 is misordered).
ROWS = [
    ("a", 0.9, 1),
    ("b", 0.8, 1),
    ("c", 0.3, 0),
    ("d", 0.6, 0),
    ("e", 0.2, 0),
    ("f", 0.4, 1),
]
