"""Model quality against ground truth: what the endpoint predicted, joined by inference id
to the labels that arrived later, scored over a window and compared with the production
model's registered baseline (`mlops quality`, docs/quality.md).

- `inputs`: captured predictions (SageMaker data-capture JSON lines) and label files;
- `evaluate`: the join, the metrics (ml/metrics.py) and the tolerance checks;
- `baseline`: the production model's registered metrics, or a baseline file;
- `report`: quality.md / quality.json / quality.html;
- `run`: the command's composition (inputs from disk or S3, reports, the published metric).
"""
