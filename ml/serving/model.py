"""Load a model artifact for serving: verify its signature, then compile it to native code.

Order matters. The signature is checked first (`ml.provenance.check.verify_artifact`,
with the exported public key or through KMS), then that the signed statement is for
the model, stack and version this server was told to serve (`MLOPS_MODEL_NAME`,
`MLOPS_STACK`, `MLOPS_MODEL_VERSION`; a statement that names none of them is refused
too); only then are `model.json` and
`model.txt` read, once, into memory and compared with the digests the signed statement
lists, so what is compiled is byte for byte what was verified even if the directory
changes in between. The verified `model.txt` bytes are compiled by lleaves (LLVM,
bundled in the llvmlite wheel: no compiler in the image) into a function that
predicts in a few microseconds and equals LightGBM's own predictions.

Compiled without inlining the trees into the forest function (`finline=False`): on a
100-tree, 31-leaf forest that compiles about 4x faster (about 1.3 s instead of 5.7 s
here, per worker, at every start) for the same single-row latency (about 3.5 us);
1,000-row batches are about 30% slower (1.2 ms instead of 0.9 ms).

Every reason not to serve is a `NotServable` with one line for the log and `/ping`.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.errors import MlopsError
from infra.contracts import SIGNATURE_FILE, Env
from ml.serving.settings import ServeSettings

if TYPE_CHECKING:
    from ml.serving.explain import Explainer

MODEL_FILE = "model.txt"
CARD_FILE = "model.json"
_DOUBLE_P = ctypes.POINTER(ctypes.c_double)


class NotServable(Exception):
    """Why this model must not be served; one line."""


@dataclass(frozen=True)
class ModelCard:
    """The parts of `model.json` the server relies on."""

    features: tuple[str, ...]
    library: str
    library_version: str

    @property
    def n_features(self) -> int:
        return len(self.features)


def parse_card(raw: bytes) -> ModelCard:
    try:
        card = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise NotServable(f"{CARD_FILE} is not valid JSON") from None
    if not isinstance(card, dict):
        raise NotServable(f"{CARD_FILE} is not a JSON object")
    library = card.get("library")
    if library != "lightgbm":
        raise NotServable(f"{CARD_FILE}: library {library!r} is not served (only lightgbm)")
    features = card.get("features")
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(name, str) and name for name in features)
        or len(set(features)) != len(features)
    ):
        raise NotServable(f"{CARD_FILE}: features must be a non-empty list of unique names")
    n_features = card.get("n_features", len(features))
    if n_features != len(features):
        raise NotServable(
            f"{CARD_FILE}: n_features is {n_features} but {len(features)} features are named"
        )
    return ModelCard(tuple(features), library, str(card.get("library_version", "")))


class Predictor:
    """P(class 1) from the compiled forest, called directly through ctypes.

    `predict_row` reuses two preallocated buffers: the server calls it from its one
    event-loop thread only. `predict` takes a (n, features) array for batches.
    """

    def __init__(self, compiled: Any, n_features: int):
        self._compiled = compiled  # keeps lleaves' execution engine (the code) alive
        self.n_features = n_features
        self.n_trees = int(compiled.num_trees())
        # lleaves' entry point `forest_root(double *X, double *out, int start, int end)`;
        # it drops the GIL while it runs. Fall back to the public API if it moves.
        self._entry: Callable[..., None] | None = getattr(compiled, "_c_entry_func", None)
        self._row = (ctypes.c_double * n_features)()
        self._one = (ctypes.c_double * 1)()

    def predict_row(self, values: list[float]) -> float:
        if self._entry is None:
            return float(self.predict(np.array([values], dtype=np.float64))[0])
        self._row[:] = values
        self._entry(self._row, self._one, 0, 1)
        return self._one[0]

    def predict(self, rows: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(rows, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.n_features:
            raise ValueError(f"expected shape (n, {self.n_features}), got {data.shape}")
        if self._entry is None:
            return np.asarray(self._compiled.predict(data, n_jobs=1), dtype=np.float64)
        out = np.empty(data.shape[0], dtype=np.float64)
        self._entry(data.ctypes.data_as(_DOUBLE_P), out.ctypes.data_as(_DOUBLE_P), 0, len(out))
        return out


def compile_model(model_text: bytes, n_features: int) -> Predictor:
    """Compile LightGBM's text model with lleaves; `NotServable` if it cannot be."""
    import lleaves  # imports llvmlite: only when a model is loaded

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as private:
        path = Path(private) / MODEL_FILE  # a private copy of the verified bytes
        path.write_bytes(model_text)
        try:
            compiled = lleaves.Model(model_file=str(path))
            if compiled.num_feature() != n_features:
                raise NotServable(
                    f"{MODEL_FILE} expects {compiled.num_feature()} features but {CARD_FILE} "
                    f"names {n_features}"
                )
            compiled.compile(finline=False)
        except NotServable:
            raise
        except Exception as error:  # lleaves raises plain Exceptions on unparsable models
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise NotServable(f"{MODEL_FILE} cannot be compiled: {first}") from None
    return Predictor(compiled, n_features)


@dataclass(frozen=True)
class LoadedModel:
    predictor: Predictor
    card: ModelCard
    model_sha256: str
    provenance: str
    """One line: who signed it (or that the check was skipped, and why)."""
    explainer: Explainer | None = None
    """TreeSHAP on the same verified bytes (LightGBM's C API); None if it cannot load."""
    explain_unavailable: str = ""
    """Why there is no explainer (answered to requests that ask for explanations)."""


def load_model(settings: ServeSettings) -> LoadedModel:
    """Verify, read and compile the artifact in `settings.model_dir`."""
    directory = settings.model_dir
    if not directory.is_dir():
        raise NotServable(f"model directory {directory} not found (set SM_MODEL_DIR)")
    signed_digests, provenance = verify(settings)
    model_text = _read(directory / MODEL_FILE)
    card_raw = _read(directory / CARD_FILE)
    model_sha256 = hashlib.sha256(model_text).hexdigest()
    if signed_digests is not None:
        for name, raw in ((MODEL_FILE, model_text), (CARD_FILE, card_raw)):
            if signed_digests.get(name) != hashlib.sha256(raw).hexdigest():
                raise NotServable(f"{name} changed after its signature was verified")
    card = parse_card(card_raw)
    predictor = compile_model(model_text, card.n_features)
    from ml.serving.explain import Explainer

    try:  # milliseconds; predictions are served even if explanations cannot be
        explainer, why_not = Explainer(model_text, card.n_features), ""
    except NotServable as error:
        explainer, why_not = None, str(error)
    return LoadedModel(predictor, card, model_sha256, provenance, explainer, why_not)


def verify(settings: ServeSettings) -> tuple[dict[str, str] | None, str]:
    """(signed file digests, one-line account) or `NotServable`.

    A configured key is always enforced, and with it the statement's binding: it must
    name a model, stack and version, and each the settings name must match.
    `require_signature=false` only allows serving when no key is configured at all
    (local development), and says so in the log.
    """
    if not settings.has_key:
        if settings.require_signature:
            raise NotServable(
                f"no signing key configured: set {Env.SIGNING_PUBLIC_KEY} (PEM path), "
                f"{Env.SIGNING_PUBLIC_KEY_PEM} (PEM) or {Env.SIGNING_KEY_ID} (KMS key), or "
                f"{Env.REQUIRE_SIGNATURE}=false for local development"
            )
        return None, f"signature not checked: {Env.REQUIRE_SIGNATURE}=false and no key configured"

    from ml.provenance.check import kms_verifier, verify_artifact
    from ml.provenance.statement import binding_problem

    try:
        if settings.public_key is not None:
            verifier = _pick(_read_key(settings.public_key), settings.model_dir)
        elif settings.public_key_pem is not None:
            verifier = _pick(settings.public_key_pem.encode("utf-8"), settings.model_dir)
        else:
            from ml.aws import client

            verifier = kms_verifier(client("kms"), str(settings.key_id))
    except MlopsError as error:
        raise NotServable(f"signing key unusable: {error}") from None
    result = verify_artifact(settings.model_dir, settings.model_dir / SIGNATURE_FILE, verifier)
    if not result.ok:
        raise NotServable(f"signature check failed: {result.reason}")
    signed = result.provenance
    assert signed is not None  # a verified result carries its statement
    if settings.promoted_from is not None and signed.stack == settings.promoted_from:
        # A promoted model keeps its source signature: same model, the source's stack.
        problem = binding_problem(signed, model=settings.model_name, stack=settings.promoted_from)
    else:
        problem = binding_problem(
            signed, model=settings.model_name, stack=settings.stack, version=settings.model_version
        )
    if problem:
        s = settings
        told = f"{s.model_name or '?'} in {s.stack or '?'} v{s.model_version or '?'}"
        raise NotServable(f"artifact refused: {problem}; this server serves {told}")
    subjects = (result.statement or {}).get("subject", [])
    digests = {item["name"]: item["digest"]["sha256"] for item in subjects}
    bound = f"{signed.model_package_group} v{signed.version} ({signed.stack})"
    return digests, f"{result.reason}; signed for {bound}"


def _pick(pem_bundle: bytes, model_dir: Path) -> Any:
    """The verifier of the PEM key (of one or several concatenated) whose key id signed the
    model's envelope; the first when none did (verification then says which key signed)."""
    from ml.provenance.check import offline_verifier
    from ml.provenance.envelope import EnvelopeError, load_envelope

    end = b"-----END PUBLIC KEY-----"
    blocks = [block.strip() + b"\n" + end + b"\n" for block in pem_bundle.split(end)[:-1]]
    verifiers = [offline_verifier(block) for block in blocks] or [offline_verifier(pem_bundle)]
    try:
        signed_by = {
            sig.keyid for sig in load_envelope(model_dir / SIGNATURE_FILE).signatures.values()
        }
    except EnvelopeError:
        return verifiers[0]
    return next((v for v in verifiers if v.keyid in signed_by), verifiers[0])


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise NotServable(f"public key {path}: {error.strerror or error}") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotServable(f"{path.name} not found in {path.parent}") from None
    except OSError as error:
        raise NotServable(f"{path}: {error.strerror or error}") from None
