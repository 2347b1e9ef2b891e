# Stands in for python:3.11-slim-bookworm where no registry is reachable: Debian's python3 (3.11)
# with venv, on the minbase image the tier imports (tests/container/images.py).
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python-is-python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CMD ["python3"]
