"""The per-account bootstrap, as a Pulumi program of its own (run once by an administrator).

Its stack file is `infra/bootstrap/Pulumi.bootstrap.yaml`; `mlops infra render --program
bootstrap` renders it offline like the main stacks. See docs/from-demo-to-aws.md.
"""
