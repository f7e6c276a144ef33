"""The GitHub side of the trust model, as a Pulumi program of its own (`pulumi-github`).

Its stack file is `infra/github/Pulumi.github.yaml`; `mlops infra render --program github`
renders it offline like the main stacks. See docs/github.md.
"""
