"""Per-request explanations: LightGBM's exact TreeSHAP, called through its C API.

The compiled forest (`ml.serving.model`) predicts; it cannot explain. Contributions come
from LightGBM itself (`predict_type=C_API_PREDICT_CONTRIB`, what `Booster.predict(...,
pred_contrib=True)` calls), on the same verified `model.txt` bytes, with
`lib_lightgbm.so` loaded by ctypes rather than through the `lightgbm` package: importing
the package imports scikit-learn and takes seconds per worker; the library loads in
milliseconds. Single rows go through LightGBM's `SingleRowFast` entry point, set up
once, so a request pays for TreeSHAP and not for re-parsing parameters.

Contributions are in the model's raw score (log-odds): for every row, the features'
contributions plus the bias (the last column, LightGBM's layout) equal the raw score,
whose logistic is the probability the server returns.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

from ml.serving.model import NotServable

_PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB in LightGBM's c_api.h
_DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64
_ROW_MAJOR = 1
_ONE_THREAD = b"num_threads=1"  # one process per worker: no OpenMP team per request
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def library_path() -> Path:
    """`lib_lightgbm.so` of the installed lightgbm package, found without importing it."""
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise NotServable("explanations need the lightgbm package, which is not installed")
    for folder in spec.submodule_search_locations:
        for name in ("lib_lightgbm.so", "lib_lightgbm.dylib", "lib_lightgbm.dll"):
            path = Path(folder) / "lib" / name
            if path.is_file():
                return path
    raise NotServable("lightgbm is installed without its native library (lib_lightgbm)")


class Explainer:
    """TreeSHAP contributions for one model: `(n, features + 1)` rows, bias last.

    `explain_row` reuses preallocated buffers and LightGBM's fast single-row config: call
    it from one thread (the server's event loop), like `Predictor.predict_row`.
    """

    def __init__(self, model_text: bytes, n_features: int):
        self._lib = ctypes.cdll.LoadLibrary(str(library_path()))
        self.n_features = n_features
        self.width = n_features + 1
        self._booster = ctypes.c_void_p()
        self._fast = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        self._check(
            self._lib.LGBM_BoosterLoadModelFromString(
                ctypes.c_char_p(model_text), ctypes.byref(iterations), ctypes.byref(self._booster)
            ),
            "load the model",
        )
        features = ctypes.c_int(0)
        self._check(
            self._lib.LGBM_BoosterGetNumFeature(self._booster, ctypes.byref(features)),
            "read the model",
        )
        if features.value != n_features:
            raise NotServable(
                f"LightGBM reads {features.value} features in model.txt, model.json names "
                f"{n_features}"
            )
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._booster,
                ctypes.c_int(_PREDICT_CONTRIB),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(_ONE_THREAD),
                ctypes.byref(self._fast),
            ),
            "prepare single-row explanations",
        )
        self._row = (ctypes.c_double * n_features)()
        self._out = np.empty(self.width, dtype=np.float64)
        self._out_p = self._out.ctypes.data_as(_DOUBLE_P)
        self._written = ctypes.c_int64(0)

    def _check(self, code: int, doing: str) -> None:
        if code != 0:
            self._lib.LGBM_GetLastError.restype = ctypes.c_char_p
            reason = (self._lib.LGBM_GetLastError() or b"").decode("utf-8", "replace")
            first = reason.splitlines()[0] if reason else f"error {code}"
            raise NotServable(f"LightGBM cannot {doing}: {first}")

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
        data = np.ascontiguousarray(rows, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.n_features:
            raise ValueError(f"expected shape (n, {self.n_features}), got {data.shape}")
        out = np.empty((data.shape[0], self.width), dtype=np.float64)
        self._check(
            self._lib.LGBM_BoosterPredictForMat(
                self._booster,
                data.ctypes.data_as(_DOUBLE_P),
                ctypes.c_int(_DTYPE_FLOAT64),
                ctypes.c_int32(data.shape[0]),
                ctypes.c_int32(self.n_features),
                ctypes.c_int(_ROW_MAJOR),
                ctypes.c_int(_PREDICT_CONTRIB),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_char_p(_ONE_THREAD),
                ctypes.byref(self._written),
                out.ctypes.data_as(_DOUBLE_P),
            ),
            "explain the rows",
        )
        return out

    def __del__(self) -> None:
        lib = getattr(self, "_lib", None)
        if lib is None:
            return
        if getattr(self, "_fast", None):
            lib.LGBM_FastConfigFree(self._fast)
        if getattr(self, "_booster", None):
            lib.LGBM_BoosterFree(self._booster)
