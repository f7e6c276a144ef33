"""Per-request explanations: LightGBM's exact TreeSHAP, called through its C API.

The compiled forest (`ml.serving.model`) predicts; it cannot explain. Contributions come
from LightGBM itself (`predict_type=C_API_PREDICT_CONTRIB`, what `Booster.predict(...,
pred_contrib=True)` calls), on the same verified `model.txt` bytes, with
`lib_lightgbm.so` loaded by ctypes (`ml.training.native`, which validation uses too)
rather than through the `lightgbm` package: importing
the package imports scikit-learn and takes seconds per worker; the library loads in
milliseconds. Single rows go through LightGBM's `SingleRowFast` entry point, set up
once, so a request pays for TreeSHAP and not for re-parsing parameters.

Contributions are in the model's raw score (log-odds): for every row, the features'
contributions plus the bias (the last column, LightGBM's layout) equal the raw score,
whose logistic is the probability the server returns.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from ml.serving.model import NotServable
from ml.training import native

_ONE_THREAD = b"num_threads=1"  # one process per worker: no OpenMP team per request


def library_path() -> Path:
    """`lib_lightgbm` of the installed lightgbm package, or NotServable saying why not."""
    try:
        return native.library_path()
    except native.LightGBMError as error:
        raise NotServable(f"explanations are off: {error}") from None


class Explainer:
    """TreeSHAP contributions for one model: `(n, features + 1)` rows, bias last.

    `explain_row` reuses preallocated buffers and LightGBM's fast single-row config: call
    it from one thread (the server's event loop), like `Predictor.predict_row`.
    """

    def __init__(self, model_text: bytes, n_features: int):
        library_path()  # NotServable when the library is missing: predictions still serve
        try:
            self._model = native.NativeBooster(model_text.decode("utf-8"))
        except native.LightGBMError as error:
            raise NotServable(str(error)) from None
        except UnicodeDecodeError:
            raise NotServable("LightGBM cannot load the model: model.txt is not UTF-8") from None
        if self._model.n_features != n_features:
            raise NotServable(
                f"LightGBM reads {self._model.n_features} features in model.txt, model.json "
                f"names {n_features}"
            )
        self._lib = self._model.library
        self._booster = self._model.handle
        self.n_features = n_features
        self.width = n_features + 1
        self._fast = ctypes.c_void_p()
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._booster,
                ctypes.c_int(native.PREDICT_CONTRIB),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(native.DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(_ONE_THREAD),
                ctypes.byref(self._fast),
            ),
            "prepare single-row explanations",
        )
        self._row = (ctypes.c_double * n_features)()
        self._out = np.empty(self.width, dtype=np.float64)
        self._out_p = self._out.ctypes.data_as(native.DOUBLE_P)
        self._written = ctypes.c_int64(0)

    def _check(self, code: int, doing: str) -> None:
        try:
            native.check(code, doing)
        except native.LightGBMError as error:
            raise NotServable(str(error)) from None

    def explain_row(self, values: list[float]) -> list[float]:
        """One row's contributions, bias last."""
        self._row[:] = values
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                self._fast, self._row, ctypes.byref(self._written), self._out_p
            ),
            "explain the row",
        )
        return self._out.tolist()

    def explain(self, rows: np.ndarray) -> np.ndarray:
        """Contributions of a `(n, features)` float64 batch: `(n, features + 1)`."""
        try:
            return self._model.predict(rows, pred_contrib=True, num_threads=1)
        except native.LightGBMError as error:
            raise NotServable(str(error)) from None

    def __del__(self) -> None:
        fast = getattr(self, "_fast", None)
        if fast:
            self._lib.LGBM_FastConfigFree(fast)  # the booster is freed by its NativeBooster
