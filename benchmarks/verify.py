"""`mlops verify --public-key` (offline signature verification of a signed artifact), as a
process, against what a user would run instead over the same bytes.

Setup, per size (1 MB and 64 MB of model by default): an artifact directory as the trainer
writes it (model.txt of that size, model.json, a file in a sub-folder), signed with the
project's own signing code (`ml.provenance.sign.sign_artifact`: in-toto statement in a
DSSE envelope, inside the artifact) by a throwaway local P-256 key, as the tests do, and
the public key exported as PEM. Then, each a fresh process with its cold start:

1. `mlops verify --artifact DIR --public-key key.pem`;
2. Python `cryptography` doing the same by hand: parse the envelope, verify the ECDSA
   signature over its PAE, parse the statement, SHA-256 every file and compare with the
   signed digests, refuse files the statement does not name;
3. `openssl dgst -sha256 -verify` over the PAE and `sha256sum -c` over the files, given
   the PAE, the DER signature and a SHA256SUMS file already extracted from the envelope
   (that extraction is not timed, which favours openssl).

Every side must accept the artifact and reject a copy with one byte changed (so each
really verifies). Printed and written to build/bench/verify.json: seconds, ratios.

Run alone: `python -m benchmarks.verify [--megabytes 1 64] [--strict]`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import (
    MLOPS,
    installed_environment,
    line,
    load_average,
    parser_for,
    publish,
    timed,
)

BY_HAND = """
import base64, hashlib, json, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
artifact, envelope_path, key_path = sys.argv[1:4]
envelope = json.load(open(envelope_path))
payload = base64.b64decode(envelope["payload"])
kind = envelope["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
key = serialization.load_pem_public_key(open(key_path, "rb").read())
key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
signed = {s["name"]: s["digest"]["sha256"] for s in json.loads(payload)["subject"]}
found = set()
for folder, _, files in os.walk(artifact):
    for name in files:
        path = os.path.join(folder, name)
        relative = os.path.relpath(path, artifact)
        if relative == "signature.dsse.json":
            continue
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if signed.get(relative) != digest:
            sys.exit(f"{relative}: not what was signed")
        found.add(relative)
if found != set(signed):
    sys.exit("a signed file is missing")
"""

OPENSSL = (
    'openssl dgst -sha256 -verify "$1" -signature "$2" "$3" >/dev/null '
    '&& cd "$4" && sha256sum --quiet --strict -c "$5"'
)


def make_artifact(directory: Path, megabytes: int) -> Path:
    """model.txt of `megabytes` (text, as LightGBM writes), model.json, one nested file."""
    artifact = directory / "artifact"
    (artifact / "extra").mkdir(parents=True)
    block = b"".join(b"tree=%d\nsplit_feature=3 7 1\nthreshold=0.25 1.5\n" % i for i in range(2048))
    with (artifact / "model.txt").open("wb") as model:
        for _ in range(megabytes * 1_000_000 // len(block) + 1):
            model.write(block)
    (artifact / "model.json").write_text(json.dumps({"library": "lightgbm", "features": ["a"]}))
    (artifact / "extra" / "feature_names.txt").write_text("a\n")
    return artifact


def sign(artifact: Path, directory: Path) -> dict[str, Path]:
    """Sign with the project's code and a local key; the openssl side's inputs, extracted."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from securesystemslib.signer import CryptoSigner

    from ml.provenance.envelope import public_key_pem, sslib_key, write_envelope
    from ml.provenance.manifest import SIGNATURE_NAME
    from ml.provenance.sign import sign_artifact
    from ml.provenance.statement import Provenance

    key = ec.generate_private_key(ec.SECP256R1())
    provenance = Provenance(
        git_commit="0123456789abcdef0123456789abcdef01234567",
        training_data_hash="sha256:" + "ab" * 32,
        builder_id="local:bench@localhost",
        model="churn-classifier",
        stack="staging",
        model_package_group="mlops-staging-churn-classifier",
        version=1,
    )
    signed = sign_artifact(artifact, provenance, CryptoSigner(key, sslib_key(key.public_key())))
    envelope = artifact / SIGNATURE_NAME
    write_envelope(signed.envelope, envelope)
    paths = {"envelope": envelope, "key": directory / "key.pem", "pae": directory / "pae.bin"}
    paths["key"].write_bytes(public_key_pem(key.public_key()))
    paths["pae"].write_bytes(signed.envelope.pae())
    signature = next(iter(signed.envelope.signatures.values())).signature
    paths["signature"] = directory / "signature.der"
    paths["signature"].write_bytes(bytes.fromhex(signature))
    paths["sums"] = directory / "SHA256SUMS"
    paths["sums"].write_text("".join(f"{e.sha256}  {e.path}\n" for e in signed.manifest.files))
    return paths


def sides(artifact: Path, paths: dict[str, Path]) -> dict[str, list[str]]:
    return {
        "mlops_verify": [MLOPS, "verify", "--artifact", str(artifact), "--public-key",
                         str(paths["key"])],
        "python_cryptography": [sys.executable, "-c", BY_HAND, str(artifact),
                                str(artifact / paths["envelope"].name), str(paths["key"])],
        "openssl_sha256sum": ["sh", "-c", OPENSSL, "sh", str(paths["key"]),
                              str(paths["signature"]), str(paths["pae"]), str(artifact),
                              str(paths["sums"])],
    }  # fmt: skip


def run_size(megabytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-verify-") as directory:
        work = Path(directory)
        artifact = make_artifact(work, megabytes)
        paths = sign(artifact, work)
        tampered = work / "tampered"
        shutil.copytree(artifact, tampered)
        with (tampered / "model.txt").open("r+b") as model:
            model.seek(os.path.getsize(tampered / "model.txt") // 2)
            model.write(b"X")
        env = installed_environment()
        quiet = {"stderr": subprocess.DEVNULL, "env": env}
        load_before = load_average()
        measured = {
            name: timed(command, env=env) for name, command in sides(artifact, paths).items()
        }
        rejected = {
            name: timed(command, **quiet)["exit_code"] != 0
            for name, command in sides(tampered, paths).items()
        }
        load_after = load_average()
    ours = measured["mlops_verify"]
    return {
        "megabytes": megabytes,
        **measured,
        "ratio_python_cryptography": round(
            measured["python_cryptography"]["seconds"] / ours["seconds"], 2
        ),
        "ratio_openssl": round(measured["openssl_sha256sum"]["seconds"] / ours["seconds"], 2),
        "accepted": {name: m["exit_code"] == 0 for name, m in measured.items()},
        "rejected_tampered": rejected,
        "load_average": [load_before, load_after],
    }


def run(sizes: list[int]) -> dict[str, Any]:
    results = [run_size(megabytes) for megabytes in sizes]
    report: dict[str, Any] = {"sizes": results}
    report["bars"] = {
        "every_side_accepts_the_signed_artifact": all(all(r["accepted"].values()) for r in results),
        "every_side_rejects_a_changed_byte": all(
            all(r["rejected_tampered"].values()) for r in results
        ),
    }
    report["bars"]["met"] = all(report["bars"].values())
    return report


def render(report: dict[str, Any]) -> str:
    lines = ["mlops verify --public-key (fresh processes) vs Python cryptography and openssl"]
    for r in report["sizes"]:
        lines += [
            f"{r['megabytes']} MB artifact (load average {r['load_average'][0]} -> "
            f"{r['load_average'][1]}):",
            line("mlops verify", r["mlops_verify"]),
            line("python cryptography + hashlib", r["python_cryptography"]),
            line("openssl dgst + sha256sum -c", r["openssl_sha256sum"]),
            f"  ratio {r['ratio_python_cryptography']:.1f}x against Python cryptography, "
            f"{r['ratio_openssl']:.2f}x against openssl (pre-extracted inputs)",
        ]
    bars = report["bars"]
    lines.append("bars met" if bars["met"] else f"BARS NOT MET: {bars}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("verify", __doc__.split("\n")[0])
    parser.add_argument(
        "--megabytes", type=int, nargs="+", default=[1, 64], help="Sizes of model.txt (MB)."
    )
    args = parser.parse_args(argv)
    return publish(run(args.megabytes), render, args)


if __name__ == "__main__":
    sys.exit(main())
