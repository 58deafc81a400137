#!/usr/bin/env bash
# Creates .venv with torch and sft-wizard (editable, with the test, gguf and eval extras). Safe to run again.
# torch: on a machine without an NVIDIA GPU this installs the CPU build of torch==2.13.0 and
# never downloads CUDA packages; with an NVIDIA GPU (nvidia-smi works) it installs the CUDA
# build from PyPI. Set SFT_WIZARD_TORCH=cpu|cuda to choose yourself.
# Everything else is installed at the tested versions of constraints.txt; SFT_WIZARD_UNLOCKED=1
# installs the newest versions within pyproject.toml's ranges instead.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.13.0
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# uv downloads and installs the wheels in parallel: set-up takes about 50 s where pip takes 95 s.
# Both compile the bytecode at install, as PYTHONDONTWRITEBYTECODE machines never write it later (every
# process would compile torch again). Where uv cannot be installed, pip does the same work.
UV_VERSION=0.13.9
if [ -x .venv/bin/uv ] || pip install "uv==$UV_VERSION" 2>/dev/null; then
  install() { .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python "$@"; }
else
  install() { pip install "$@"; }
fi
if [ "${SFT_WIZARD_UNLOCKED:-}" = 1 ]; then
  lock="" install_mode=unlocked
else
  lock="-c constraints.txt" install_mode="locked $(cksum < constraints.txt)"
fi

want=${SFT_WIZARD_TORCH:-}
if [ -z "$want" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then want=cuda; else want=cpu; fi
fi
have=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('torch'))" 2>/dev/null || true)
if [ -z "$have" ]; then
  echo "setup: installing torch $TORCH_VERSION ($want build)"
  wheels=$(mktemp -d)
  if [ "$want" = cuda ]; then
    install "torch==$TORCH_VERSION" $lock
  elif pip download --no-deps --no-index -d "$wheels" "torch==$TORCH_VERSION" >/dev/null 2>&1; then
    # This machine carries a CPU wheel where pip looks (find-links): it wins over PyPI's CUDA build.
    install "$wheels"/torch-*.whl $lock
  else
    # PyPI's torch is a CUDA build: take the CPU build alone from PyTorch's index (its dependencies come from PyPI below).
    install --no-deps "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
  rm -rf "$wheels"
fi
# find_spec, not import: importing peft takes seconds on every run of the tests. The stamp holds the
# install mode and the lock's checksum (a changed lock reinstalls); a newer pyproject reinstalls too.
installed='import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in ("engine", "tui", "trl", "peft", "textual", "pytest", "xdist", "gguf", "sentencepiece", "lm_eval", "rouge_score", "sacrebleu")))'
stamp=.venv/.sft-wizard-installed
if ! .venv/bin/python -c "$installed" 2>/dev/null \
   || [ pyproject.toml -nt "$stamp" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$install_mode" ]; then
  echo "setup: installing sft-wizard and its dependencies into .venv (${install_mode%% *} versions)"
  if ! install -e ".[test,gguf,eval]" $lock 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); then
    if [ -n "$lock" ]; then
      echo "setup: the tested versions (constraints.txt) did not install here; SFT_WIZARD_UNLOCKED=1 bash scripts/setup.sh" \
        "installs the newest versions within pyproject.toml's ranges instead" >&2
    fi
    exit 1
  fi
  .venv/bin/python -c "from engine.libraries import quiet_libraries; quiet_libraries(); import tui, textual, pytest"  # the engine's import: no Hub kernel fetch
  echo "$install_mode" > "$stamp"
fi
# Bytecode for our own modules, also where PYTHONDONTWRITEBYTECODE is set (else every start compiles them).
.venv/bin/python -m compileall -q -j 0 engine tui >/dev/null || true
