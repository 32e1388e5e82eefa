# The image every task of the compiled Kubeflow pipeline runs (kubeflow/pipeline.yaml names it):
# the locked TFX 1.16 stack on Python 3.10, this project installed as a package, and the bundled
# data and curated schema under /app. Build it from the repository root:
#   docker build -t REGISTRY/penguins:TAG .
# The lock is resolved for x86_64 Linux: on another machine add --platform linux/amd64.
# No ENTRYPOINT: KFP sets each task's command itself.

ARG PYTHON_IMAGE=python:3.10-slim-bookworm

# --- build: a virtual environment at /opt/venv holding exactly the locked versions ---
FROM ${PYTHON_IMAGE} AS build

ENV UV_PYTHON_DOWNLOADS=never \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Bytecode ships compiled: every task is a fresh process importing TensorFlow and TFX, which
# takes about 13 s with it and 33 s without (measured on 2 cores), for about 320 MB more image.
# --build-arg UV_COMPILE_BYTECODE=0 trades that back.
ARG UV_COMPILE_BYTECODE=1

# The installer lives outside the venv, so the image does not carry it.
RUN pip install uv==0.13.9

# Runtime set only: the lock minus the packages only its dev extra needs (tests, lint, data
# regeneration, the installer). Nothing is resolved again: `uv pip sync` installs exactly the
# listed versions, and --strict fails the build if one of them lacks a dependency.
# TensorFlow's C++ headers (about 420 MB) only serve to compile custom ops: dropped.
COPY requirements.lock /tmp/requirements.lock
RUN grep -v -E '^(pytest|pytest-timeout|iniconfig|ruff|uv|palmerpenguins|matplotlib|contourpy|cycler|fonttools|kiwisolver)==' \
        /tmp/requirements.lock > /tmp/runtime.lock \
    && uv venv --python /usr/local/bin/python3.10 /opt/venv \
    && uv pip sync --python /opt/venv/bin/python --strict /tmp/runtime.lock \
    && rm -rf /opt/venv/lib/python3.10/site-packages/tensorflow/include

# The project itself, as a regular (non-editable) package, built with the locked setuptools.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY components ./components
COPY models ./models
RUN uv pip install --python /opt/venv/bin/python --no-deps --no-build-isolation . \
    && uv pip check --python /opt/venv/bin/python

# --- runtime ---
FROM ${PYTHON_IMAGE}

ARG IMAGE_SOURCE=""
ARG IMAGE_REVISION=""
LABEL org.opencontainers.image.title="penguins" \
      org.opencontainers.image.description="TFX 1.16 penguin pipeline: the image every Kubeflow Pipelines task runs" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.revision="${IMAGE_REVISION}"

# TF_USE_LEGACY_KERAS must be set before TensorFlow loads: the TFX 1.16 family runs on Keras 2.
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/penguins \
    TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# A fixed non-root user. It owns only what it writes: HOME (Keras and TF caches) and the folders
# where the KFP v2 launcher stages artifacts (/gcs, /minio, /s3, created at run time otherwise,
# which a non-root user cannot do on KFP before 2.3). Group 0 may write them too, for clusters
# that run images under an arbitrary uid in the root group (OpenShift).
RUN groupadd --gid 10001 penguins \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /home/penguins \
        --shell /usr/sbin/nologin penguins \
    && install -d -o 10001 -g 0 -m 0775 /home/penguins /gcs /minio /s3

# Code and dependencies stay root-owned: the user can read them, not change them.
COPY --from=build /opt/venv /opt/venv

# The defaults `penguins kubeflow compile` points at: /app/data/penguins, /app/schemas/penguins.
WORKDIR /app
COPY pyproject.toml ./
COPY data ./data
COPY schemas ./schemas

USER 10001:10001

CMD ["penguins", "--help"]
