"""`infra.arns.concat`: what `pulumi.Output.concat` gives (value, secrecy, dependencies,
unknowns), with fewer Outputs; the render's graph depends on it being the same."""

from __future__ import annotations

import pulumi

from infra.arns import concat
from tests.infra.helpers import made_by, resolved

BUCKET = object()  # stands for the resource an ARN part comes from
KEY = object()


def test_plain_parts_make_a_known_string_with_no_dependency() -> None:
    assert resolved(lambda: concat("arn:", "aws", ":s3:::", "data", "/*")) == (
        "arn:aws:s3:::data/*",
        True,
        False,
        set(),
    )


def test_one_resource_part_keeps_the_dependency_on_that_resource() -> None:
    built = resolved(lambda: concat("arn:", "aws", ":s3:::", made_by(BUCKET, "data"), "/*"))
    assert built == ("arn:aws:s3:::data/*", True, False, {BUCKET})


def test_a_secret_part_makes_the_whole_string_secret() -> None:
    built = resolved(lambda: concat("prefix/", pulumi.Output.secret("token")))
    assert built == ("prefix/token", True, True, set())


def test_several_resource_parts_keep_every_dependency() -> None:
    built = resolved(lambda: concat(made_by(BUCKET, "data"), "/", made_by(KEY, "k1"), "/", "x"))
    assert built == ("data/k1/x", True, False, {BUCKET, KEY})


def test_an_unknown_part_leaves_the_string_unknown_as_the_sdk_does() -> None:
    def parts() -> tuple[pulumi.Input[str], ...]:
        return ("arn:", made_by(BUCKET, None, known=False), "/*")

    ours = resolved(lambda: concat(*parts()))
    assert ours[1:] == (False, False, {BUCKET}), ours
    assert ours[1:] == resolved(lambda: pulumi.Output.concat(*parts()))[1:]
