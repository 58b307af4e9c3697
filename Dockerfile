# Headroom's container image: the reconciler as an AWS Lambda function (the default CMD) and,
# with the entry point overridden to `headroom`, `headroom serve` on ECS (infra/deploy).
#
# Base: AWS's OS-only Lambda image on Amazon Linux 2023 with its Python 3.11 package and the
# Lambda runtime interface client (awslambdaric, the project's `lambda` extra). Not
# public.ecr.aws/lambda/python:3.11: that image is Amazon Linux 2 (glibc 2.26), for which duckdb
# 2.0.0, pyarrow 26.0.1, numpy 2.4.6, lightgbm 4.7.0, igraph 1.0.0 and leidenalg 0.12.0 publish
# no wheels; Amazon Linux 2023 (glibc 2.34) has wheels for every pinned dependency.
#
#   docker build --platform linux/amd64 -t headroom:dev .
#   docker run --rm --entrypoint headroom headroom:dev --help     # the CLI, as ECS runs it
ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023

FROM ${BASE_IMAGE} AS build
RUN dnf install -y python3.11 python3.11-pip && dnf clean all
WORKDIR /src
COPY pyproject.toml README.md ./
COPY providers/ providers/
COPY reconciler/ reconciler/
COPY forecasting/ forecasting/
COPY policies/ policies/
COPY infra/ infra/
# Wheels of the project and of every dependency, so the runtime stage needs no compiler.
RUN python3.11 -m pip wheel --no-cache-dir --wheel-dir /wheels ".[lambda]"

FROM ${BASE_IMAGE}
RUN dnf install -y python3.11 python3.11-pip && dnf clean all
COPY --from=build /wheels /wheels
RUN python3.11 -m pip install --no-cache-dir --no-index --find-links /wheels "headroom[lambda]" \
    && rm -rf /wheels
# The policies the deployment names (HEADROOM_POLICY=/var/task/policies/...).
WORKDIR /var/task
COPY policies/ /var/task/policies/
# Writable places on Lambda's read-only file system.
ENV MPLCONFIGDIR=/tmp/matplotlib \
    HEADROOM_STATE_DIR=/tmp/headroom \
    PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["/usr/bin/python3.11", "-m", "awslambdaric"]
CMD ["infra.deploy.entry.handler"]
