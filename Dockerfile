# syntax=docker/dockerfile:1
# The serving and training image (ECR repository of the stack):
#   docker run <image> serve   the inference server on :8080 (SageMaker endpoint, Kubernetes)
#   docker run <image> train   the SageMaker training entry point
# Two stages from the same digest-pinned slim base: `build` turns the project into a
# virtualenv from wheels only (nothing is compiled, there is no compiler in either
# stage); `runtime` copies that virtualenv, adds the one runtime library LightGBM
# links against (libgomp1) and runs as an unprivileged user.
# The digest is python:3.11-slim-bookworm's; refresh it with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY common ./common
COPY infra ./infra
COPY ml ./ml
COPY policies ./policies
# The project as a wheel, then every dependency as a published wheel only: a
# dependency that would need compiling fails the build here instead of pulling a
# toolchain into the image.
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip install --only-binary=:all: /wheels/*.whl \
    && rm -rf /wheels

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mlops-gitops" \
      org.opencontainers.image.description="Inference server and training entry point" \
      org.opencontainers.image.licenses="Apache-2.0"
# libgomp1: LightGBM's OpenMP runtime (training). The base is pinned by digest; apt
# package versions are not, so that a rebuild picks up Debian's security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# An unprivileged user owning SageMaker's /opt/ml layout (model, input, output,
# checkpoints), so training can write its artifact and checkpoints.
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid mlops --home-dir /home/mlops --create-home \
       --shell /usr/sbin/nologin mlops \
    && mkdir -p /opt/ml/model /opt/ml/input /opt/ml/output /opt/ml/checkpoints \
    && chown -R mlops:mlops /opt/ml
COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/mlops-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SM_MODEL_DIR=/opt/ml/model
USER 10001:10001
WORKDIR /home/mlops
EXPOSE 8080
# /ping is 200 only once the model's signature verified and the model compiled; a
# training container reports healthy (see ml/serving/healthcheck.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-m", "ml.serving.healthcheck"]
ENTRYPOINT ["mlops-entrypoint"]
CMD ["serve"]
