"""The reference server of the serving benchmark, as the AWS samples build one.

This is `predictor.py` of the "bring your own container" scikit-learn sample
(amazon-sagemaker-examples, `advanced_functionality/scikit_bring_your_own/container/
decision_trees/predictor.py`): Flask, a pickled scikit-learn-API model loaded once,
`pandas.read_csv` on the body, `predict`, `DataFrame.to_csv` for the answer, a print per
request, run by gunicorn with `sync` workers, one per CPU (the sample's `serve`).

Two deliberate differences, both in the reference's favour or neutral:
- no nginx in front (the sample proxies through nginx to gunicorn's Unix socket; one
  hop fewer makes the reference faster, not slower);
- `predict_proba(...)[:, 1]` instead of `predict`, so both servers answer the same
  thing (P(class 1)) from the same model: LightGBM's own `LGBMClassifier`, pickled,
  with `n_jobs=1` so that gunicorn's workers do not oversubscribe the CPUs with
  OpenMP threads (LightGBM's default would slow single-row calls down).

Run: `gunicorn -k sync -w <cpus> -b <addr> benchmarks.serving_reference:app` with
`REFERENCE_MODEL=<path to the pickle>`.
"""

from __future__ import annotations

import io
import os
import pickle

import flask
import pandas as pd


class ScoringService:
    model = None

    @classmethod
    def get_model(cls):
        if cls.model is None:
            with open(os.environ["REFERENCE_MODEL"], "rb") as inp:
                cls.model = pickle.load(inp)  # noqa: S301 - the benchmark's own pickle
        return cls.model

    @classmethod
    def predict(cls, data: pd.DataFrame):
        return cls.get_model().predict_proba(data)[:, 1]


app = flask.Flask(__name__)


@app.route("/ping", methods=["GET"])
def ping() -> flask.Response:
    health = ScoringService.get_model() is not None
    status = 200 if health else 404
    return flask.Response(response="\n", status=status, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def transformation() -> flask.Response:
    if flask.request.content_type != "text/csv":
        return flask.Response(
            response="This predictor only supports CSV data", status=415, mimetype="text/plain"
        )
    return flask.Response(response=score(flask.request.data), status=200, mimetype="text/csv")


def score(body: bytes) -> str:
    """The sample's work on one CSV body, between Flask's request and response (also
    timed in-process by the benchmark)."""
    data = pd.read_csv(io.StringIO(body.decode("utf-8")), header=None)
    print(f"Invoked with {data.shape[0]} records")
    predictions = ScoringService.predict(data)
    out = io.StringIO()
    pd.DataFrame({"results": predictions}).to_csv(out, header=False, index=False)
    return out.getvalue()
