"""LightGBM's C library through ctypes: load a text model, name its features, predict.

Validation and the server's explanations call `lib_lightgbm` directly, the library the
`lightgbm` package itself calls (`LGBM_BoosterPredictForMat` is what `Booster.predict`
runs), found without importing the package: `import lightgbm` imports its optional
scikit-learn, pandas and scipy integrations, seconds per process, and the library loads
in milliseconds. Training keeps the package (`lightgbm.train`).
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import MlopsError

PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL in LightGBM's c_api.h: probabilities
PREDICT_CONTRIB = 3  # C_API_PREDICT_CONTRIB: TreeSHAP contributions, bias last
DTYPE_FLOAT64 = 1  # C_API_DTYPE_FLOAT64
ROW_MAJOR = 1
DOUBLE_P = ctypes.POINTER(ctypes.c_double)


class LightGBMError(MlopsError):
    """The library is missing or refused a call; `reason` is LightGBM's first line."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def library_path() -> Path:
    """`lib_lightgbm` of the installed lightgbm package, found without importing it."""
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise LightGBMError("the lightgbm package is not installed")
    for folder in spec.submodule_search_locations:
        for name in ("lib_lightgbm.so", "lib_lightgbm.dylib", "lib_lightgbm.dll"):
            path = Path(folder) / "lib" / name
            if path.is_file():
                return path
    raise LightGBMError("lightgbm is installed without its native library (lib_lightgbm)")


_library: Any = None


def library() -> Any:
    """The loaded library (once per process)."""
    global _library
    if _library is None:
        _library = ctypes.cdll.LoadLibrary(str(library_path()))
        _library.LGBM_GetLastError.restype = ctypes.c_char_p
    return _library


def check(code: int, doing: str) -> None:
    """Raise `LightGBMError` naming what failed when a C API call returns non-zero."""
    if code != 0:
        reason = (library().LGBM_GetLastError() or b"").decode("utf-8", "replace").strip()
        first = reason.splitlines()[0] if reason else f"error {code}"
        raise LightGBMError(f"LightGBM cannot {doing}: {first}", first)


class NativeBooster:
    """A LightGBM model loaded from its text form, predicting like `lightgbm.Booster`."""

    def __init__(self, model_text: str):
        self.library = library()
        self.handle = ctypes.c_void_p()
        iterations = ctypes.c_int(0)
        check(
            self.library.LGBM_BoosterLoadModelFromString(
                ctypes.c_char_p(model_text.encode("utf-8")),
                ctypes.byref(iterations),
                ctypes.byref(self.handle),
            ),
            "load the model",
        )
        features = ctypes.c_int(0)
        check(
            self.library.LGBM_BoosterGetNumFeature(self.handle, ctypes.byref(features)),
            "read the model",
        )
        self.n_features = features.value

    def __del__(self) -> None:
        if getattr(self, "handle", None) and self.handle.value:
            self.library.LGBM_BoosterFree(self.handle)

    def feature_name(self) -> list[str]:
        """The model's feature names, in column order (`Booster.feature_name()`)."""
        size = 256
        while True:
            buffers = [ctypes.create_string_buffer(size) for _ in range(self.n_features)]
            pointers = (ctypes.c_char_p * self.n_features)(*map(ctypes.addressof, buffers))
            written, needed = ctypes.c_int(0), ctypes.c_size_t(0)
            check(
                self.library.LGBM_BoosterGetFeatureNames(
                    self.handle,
                    ctypes.c_int(self.n_features),
                    ctypes.byref(written),
                    ctypes.c_size_t(size),
                    ctypes.byref(needed),
                    pointers,
                ),
                "read the feature names",
            )
            if needed.value <= size:
                return [buffer.value.decode("utf-8") for buffer in buffers[: written.value]]
            size = needed.value

    def predict(
        self, rows: np.ndarray, pred_contrib: bool = False, num_threads: int = 1
    ) -> np.ndarray:
        """P(class 1) per row of a `(n, features)` matrix, or with `pred_contrib` the
        `(n, features + 1)` TreeSHAP contributions, bias last, as `Booster.predict` gives."""
        data = np.ascontiguousarray(rows, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.n_features:
            raise ValueError(f"expected shape (n, {self.n_features}), got {data.shape}")
        kind = PREDICT_CONTRIB if pred_contrib else PREDICT_NORMAL
        size = ctypes.c_int64(0)
        check(
            self.library.LGBM_BoosterCalcNumPredict(
                self.handle,
                ctypes.c_int(data.shape[0]),
                ctypes.c_int(kind),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.byref(size),
            ),
            "size the prediction",
        )
        out = np.empty(size.value, dtype=np.float64)
        written = ctypes.c_int64(0)
        check(
            self.library.LGBM_BoosterPredictForMat(
                self.handle,
                data.ctypes.data_as(DOUBLE_P),
                ctypes.c_int(DTYPE_FLOAT64),
                ctypes.c_int32(data.shape[0]),
                ctypes.c_int32(data.shape[1]),
                ctypes.c_int(ROW_MAJOR),
                ctypes.c_int(kind),
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_char_p(f"num_threads={num_threads}".encode()),
                ctypes.byref(written),
                out.ctypes.data_as(DOUBLE_P),
            ),
            "predict",
        )
        return out if written.value == data.shape[0] else out.reshape(data.shape[0], -1)
