#!/usr/bin/env bash
# Sets up .venv, fine-tunes the bundled `demo` preset (tiny-demo on CPU) and tries the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run_dir="runs/demo-$(date +%Y%m%d-%H%M%S)"
.venv/bin/sft-wizard train demo --headless --output-dir "$run_dir"
.venv/bin/sft-wizard chat "$run_dir" --prompt "What is the capital of France?"
echo "Next: open the wizard with .venv/bin/sft-wizard"
echo "Run it in Ollama, llama.cpp or LM Studio: .venv/bin/sft-wizard export $run_dir --format gguf --quant q8_0"
