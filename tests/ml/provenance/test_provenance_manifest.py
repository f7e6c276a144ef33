"""The artifact manifest: the same for a directory and its tarball, and strict about input."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from ml.provenance.manifest import ArtifactError, build_manifest
from ml.provenance.statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Provenance,
    build_statement,
    encode_statement,
    parse_statement,
)
from tests.ml.provenance_support import provenance, tar_artifact, write_artifact


def test_manifest_of_directory_and_its_tarball_are_identical(tmp_path: Path) -> None:
    # given an artifact directory and a tarball of it made with `tar -C dir .`
    directory = write_artifact(tmp_path / "model")
    tarball = tar_artifact(directory, tmp_path / "model.tar.gz")
    # when both are hashed
    from_directory, from_tarball = build_manifest(directory), build_manifest(tarball)
    # then they list the same files with the same digests, so one signature fits both
    assert from_directory == from_tarball, "directory and tarball manifests differ"
    assert from_directory.digest() == from_tarball.digest(), "manifest digests differ"


def test_manifest_lists_files_in_canonical_order_with_size_and_sha256(tmp_path: Path) -> None:
    # given an artifact with a nested file
    directory = write_artifact(tmp_path / "model")
    # when hashed
    manifest = build_manifest(directory)
    # then paths are relative POSIX paths sorted bytewise, each with its real size
    paths = [entry.path for entry in manifest.files]
    assert paths == ["extra/feature_importance.csv", "model.json", "model.txt"], paths
    model = manifest.by_path()["model.txt"]
    assert model.size == (directory / "model.txt").stat().st_size, "size is not the file's"
    assert len(model.sha256) == 64, "sha256 is not a hex SHA-256"


def test_manifest_excludes_the_reserved_signature_file(tmp_path: Path) -> None:
    # given an artifact that carries its signature at the reserved name
    directory = write_artifact(tmp_path / "model")
    before = build_manifest(directory)
    (directory / "signature.dsse.json").write_text("{}")
    # when hashed again
    after = build_manifest(directory)
    # then the signature file is not part of what is signed
    assert before == after, "signature.dsse.json changed the manifest"


def test_manifest_refuses_symlinks(tmp_path: Path) -> None:
    # given an artifact holding a symlink to a file outside it
    directory = write_artifact(tmp_path / "model")
    (tmp_path / "outside.txt").write_text("elsewhere")
    os.symlink(tmp_path / "outside.txt", directory / "link.txt")
    # when hashed, then it is refused with a message naming the link
    with pytest.raises(ArtifactError, match=r"link\.txt is a symlink"):
        build_manifest(directory)


def test_manifest_refuses_tarball_members_escaping_the_root(tmp_path: Path) -> None:
    # given a tarball whose member would extract outside the model directory
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    tarball = tmp_path / "model.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(evil, arcname="../evil.txt")
    # when hashed, then it is refused
    with pytest.raises(ArtifactError, match=r"contains '\.\.'"):
        build_manifest(tarball)


def test_manifest_of_missing_artifact_names_the_path(tmp_path: Path) -> None:
    # given a path that does not exist, when hashed, then the error names it
    with pytest.raises(ArtifactError, match=r"artifact .*nope: not found"):
        build_manifest(tmp_path / "nope")


def test_statement_round_trips_subjects_and_provenance(tmp_path: Path) -> None:
    # given a manifest and provenance
    manifest = build_manifest(write_artifact(tmp_path / "model"))
    given = provenance()
    # when built into a statement, encoded and parsed back
    statement, signed = parse_statement(encode_statement(build_statement(manifest, given)))
    # then it is an in-toto Statement v1 with SLSA provenance and the same files
    assert statement["_type"] == STATEMENT_TYPE, statement["_type"]
    assert statement["predicateType"] == PREDICATE_TYPE, statement["predicateType"]
    assert signed == manifest, "subjects do not round-trip to the manifest"
    assert Provenance.from_predicate(statement["predicate"]) == given, "provenance changed"
