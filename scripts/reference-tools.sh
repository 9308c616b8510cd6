#!/usr/bin/env bash
# Sets up the reference tools the interop checks run against, once, under the shared cache
# folder (~/.cache/swiftlet-tools, or $SWIFTLET_TOOLS), and reuses them when they are there:
#   venv/                    Python with torch (CPU), transformers, peft, sentencepiece, and the
#                            gguf package of the llama.cpp below (its converter needs that one)
#   llama.cpp-VERSION/src    llama.cpp as vendored by PyPI's llama-cpp-python source distribution
#   llama.cpp-VERSION/bin    llama-perplexity, llama-quantize, llama-simple, llama-tokenize,
#                            llama-completion, llama-server and llama-bench, built with cmake
#                            from that source (a target added later is built alone: the cmake
#                            build folder is kept, so what is there is not compiled again)
# Prints the two paths (`venv=…` and `llama=…`) as its last lines. Building llama.cpp takes
# several minutes on two cores: run this under the CPU lock (make interop does).
set -euo pipefail
TOOLS=${SWIFTLET_TOOLS:-$HOME/.cache/swiftlet-tools}
LLAMA_CPP_PYTHON=0.3.36      # the sdist pins a llama.cpp revision; its converter pins the rest
TRANSFORMERS=4.57.6          # the version llama.cpp's converter requirements name
VENV=$TOOLS/venv
LLAMA=$TOOLS/llama.cpp-$LLAMA_CPP_PYTHON
mkdir -p "$TOOLS"

say() { echo "reference-tools: $*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
fi
PY=$VENV/bin/python
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }

# The llama.cpp source, from the sdist (only the vendored tree is kept).
if [ ! -f "$LLAMA/src/convert_hf_to_gguf.py" ]; then
    say "fetching llama-cpp-python $LLAMA_CPP_PYTHON's source distribution"
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    # Only this package from source; its build requirements may come as wheels.
    "$PY" -m pip download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LLAMA_CPP_PYTHON" -d "$download"
    tar xzf "$download"/llama_cpp_python-*.tar.gz -C "$download"
    mkdir -p "$LLAMA"
    rm -rf "$LLAMA/src.partial"
    mv "$download"/llama_cpp_python-*/vendor/llama.cpp "$LLAMA/src.partial"
    mv "$LLAMA/src.partial" "$LLAMA/src"
fi

if ! "$PY" -c "import torch, transformers, peft, sentencepiece, gguf, google.protobuf" 2>/dev/null; then
    say "installing torch (CPU), transformers $TRANSFORMERS, peft, sentencepiece and gguf into $VENV"
    # A CPU-only torch wheel when pip's find-links folder has one (a fraction of the CUDA
    # build's size); PyPI's default build otherwise, which runs on the CPU as well.
    cpu_wheel=$(ls "${PIP_FIND_LINKS:-/nonexistent}"/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)
    pip_install "${cpu_wheel:-torch}"
    pip_install "transformers==$TRANSFORMERS" peft "sentencepiece>=0.1.98,<0.3.0" "protobuf>=5.26" \
        numpy safetensors cmake ninja
    pip_install "$LLAMA/src/gguf-py"
fi

targets=(llama-perplexity llama-quantize llama-simple llama-tokenize llama-completion llama-server llama-bench)
missing=0
for t in "${targets[@]}"; do [ -x "$LLAMA/bin/$t" ] || missing=1; done
if [ $missing = 1 ]; then
    say "building llama.cpp (${targets[*]}) in $LLAMA/build"
    export PATH=$VENV/bin:$PATH
    cmake -S "$LLAMA/src" -B "$LLAMA/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=ON >/dev/null
    cmake --build "$LLAMA/build" -j "$(nproc)" --target "${targets[@]}" >/dev/null
    mkdir -p "$LLAMA/bin"
    for t in "${targets[@]}"; do cp "$LLAMA/build/bin/$t" "$LLAMA/bin/$t.partial" && mv "$LLAMA/bin/$t.partial" "$LLAMA/bin/$t"; done
fi
echo "venv=$VENV"
echo "llama=$LLAMA"
