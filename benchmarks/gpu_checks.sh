#!/usr/bin/env bash
# The checks only a real CUDA GPU can make, in one batch (../shared/docs/gpu.md explains the offline set-up).
# Run from the repository root on the GPU machine; each line prints what it measured. Nothing is downloaded:
# models are built from the bundled catalog's config.json with random weights (--random-init) or are tiny-demo.
set -uo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
unset USE_HUB_KERNELS  # no workaround: model.use_kernels decides (issue 19)
sw="python3 -m tui"
out=${OUT:-/tmp/sft-wizard-gpu-checks}
mkdir -p "$out"
step() { echo; echo "== $*"; }

step "NVML report and the precision decision"
$sw gpus
$sw gpus --json > "$out/gpus.json" && echo "gpus --json: ok"

step "Hub kernels offline, decided by model.use_kernels: auto trains without them and says so; true is exit 2"
$sw train demo --headless --output-dir "$out/kernels-auto" --set training.num_train_epochs=1 > "$out/kernels-auto.txt" 2>&1
echo "exit $? (0 expected)"; grep -m1 "Hub kernels" "$out/kernels-auto.txt"
grep -c -e "publisher trust" -e "gemm_4bit" "$out/kernels-auto.txt" | sed 's/^/kernel noise lines (0 expected): /'
grep -A3 "^kernels:" "$out/kernels-auto/run.yaml"
$sw check demo --set model.use_kernels=true > /dev/null; echo "check use_kernels=true: exit $? (2 expected)"
$sw probe qlora-8b-24gb --steps 2 --set model.name_or_path=tiny-demo --set dataset.path=presets/data/demo-alpaca.jsonl \
  | tail -2; echo "QLoRA probe of tiny-demo: exit ${PIPESTATUS[0]}"

step "fp16 AMP with a 4-bit model (the T4 path, forced on this GPU): trainable weights must stay fp32"
$sw train demo --headless --output-dir "$out/fp16-qlora" --set training.num_train_epochs=1 \
  --set training.bf16=false --set training.fp16=true \
  --set quantization.load_in_4bit=true --set quantization.bnb_4bit_quant_type=nf4
echo "exit $?"

step "fp16 AMP with fp16 weights and full fine-tuning (PEFT's modules_to_save, full FT)"
$sw train demo --headless --output-dir "$out/fp16-full" --set training.num_train_epochs=1 \
  --set training.bf16=false --set training.fp16=true --set lora=null --set model.dtype=float16
echo "exit $?"

step "bf16 QLoRA with paged 8-bit AdamW, CUDA memory in the log events"
$sw train demo --headless --output-dir "$out/bf16-qlora" --set training.num_train_epochs=1 \
  --set quantization.load_in_4bit=true --set training.optim=paged_adamw_8bit
grep -m1 '"reserved_bytes"' "$out/bf16-qlora/events.jsonl" | cut -c1-300

step "chat generates on the GPU, 4-bit like the run"
$sw chat "$out/bf16-qlora" --prompt "What is the capital of France?"

step "the exported script decides precision and device here"
$sw export-script demo --set training.num_train_epochs=1 --set "training.output_dir=$out/exported" > "$out/train.py"
python3 "$out/train.py" 2>&1 | grep -m1 "^training with"
ls "$out/exported/final" | head -3

step "probe: measured vs estimated, 0.5B and 8B configs, LoRA bf16 and QLoRA 4-bit, two lengths"
for model in Qwen/Qwen2.5-0.5B-Instruct meta-llama/Llama-3.1-8B-Instruct; do
  for length in 512 2048; do
    $sw probe lora-3b-bf16 --random-init --steps 2 --set "model.name_or_path=$model" \
      --set "training.max_length=$length" --set dataset.path=presets/data/demo-alpaca.jsonl
    $sw probe qlora-8b-24gb --random-init --steps 2 --set "model.name_or_path=$model" \
      --set "training.max_length=$length" --set dataset.path=presets/data/demo-alpaca.jsonl
  done
done

step "out of memory: the probe exits 3 with advice (an 8B model, full fine-tuning, batch 64 x 4096)"
$sw probe lora-3b-bf16 --random-init --steps 1 --set model.name_or_path=meta-llama/Llama-3.1-8B-Instruct \
  --set lora=null --set training.per_device_train_batch_size=64 --set training.max_length=4096 \
  --set dataset.path=presets/data/demo-alpaca.jsonl
echo "exit $? (3 expected)"

step "optimize: the GPU's plan (attention probed here), then seed vs optimized tokens/s and peak memory"
$sw optimize demo --output "$out/demo-fast.yaml" --force
for model in Qwen/Qwen2.5-0.5B-Instruct meta-llama/Llama-3.1-8B-Instruct; do
  python3 benchmarks/throughput.py --rounds 2 --steps 12 --model "$model"
done

# ---- the first GPU user (issue 14): what the CPU simulations in tests/test_gpu_simulations.py cannot prove ----
# - fp16 on CUDA: GradScaler's CUDA unscale kernel (no bfloat16 version) meets only fp32 gradients;
# - bitsandbytes' 4-bit/8-bit kernels and paged optimizers under fp16 autocast (CPU runs their fallbacks);
# - after an out-of-memory the run's CUDA memory is released (memory_reserved falls) before a retry loads;
# - NVML on MIG or in a container: the process's own figure, not the device's used memory.
step "every bundled preset: its own model (random weights), 3 steps here, then in fp16 as on a T4"
for preset in presets/*.yaml; do
  name=$(basename "$preset" .yaml)
  $sw probe "$name" --random-init --steps 3 --set dataset.path=presets/data/demo-alpaca.jsonl | tail -2
  echo "$name: exit $?"
  $sw probe "$name" --random-init --steps 3 --set dataset.path=presets/data/demo-alpaca.jsonl \
    --set training.bf16=false --set training.fp16=true | tail -2
  echo "$name fp16: exit $?"
done

step "the course lesson's own code, imported (full fine-tuning, fp16=True), 3 steps on tiny-demo"
$sw import tests/data/course-module7.py --output "$out/course.yaml" --force
$sw train "$out/course.yaml" --headless --output-dir "$out/course" --set model.name_or_path=tiny-demo \
  --set dataset.path=presets/data/demo-alpaca.jsonl --set training.max_steps=3 --set training.report_to=none
echo "exit $?"

step "out of memory in a step, in-process: release_memory gives back what the failed step held (reserved falls)"
python3 - <<'PY'
import torch
from transformers import AutoModelForCausalLM
from engine.config.run_config import ModelSection
from engine.machine.oom import is_out_of_memory, release_memory
from engine.models.structure import hf_config
model = AutoModelForCausalLM.from_config(hf_config(ModelSection(name_or_path="Qwen/Qwen2.5-0.5B-Instruct")),
                                         dtype=torch.bfloat16).cuda()
def step(model):  # a step whose frame holds the model when it runs out of memory, as a training step does
    return model.lm_head.weight.new_empty(torch.cuda.mem_get_info()[0] * 2)
try:
    step(model)
except Exception as error:
    failure = error
print("out of memory recognised:", is_out_of_memory(failure))
held = torch.cuda.memory_reserved()
del model
release_memory(failure)
print(f"reserved before release {held / 2**30:.2f} GiB, after {torch.cuda.memory_reserved() / 2**30:.2f} GiB")
PY

# ---- several GPUs (issue 11): only on a machine with 2 or more visible GPUs --------------------------
ngpu=$(nvidia-smi -L 2>/dev/null | wc -l)
ranks() { python3 -c "import json,sys; e=[json.loads(l) for l in open(sys.argv[1])]; s=[x for x in e if x['event']=='start'][-1]; \
print('world_size', s.get('world_size'), s.get('strategy'), '| end', e[-1].get('status'), e[-1].get('global_step')); \
print('ranks at last log:', [(r['rank'], r.get('reserved_bytes')) for r in [x for x in e if x['event']=='log'][-1]['ranks']])" "$1/events.jsonl"; }
if [ "$ngpu" -ge 2 ]; then
  step "one GPU on a multi-GPU machine: CUDA_VISIBLE_DEVICES restricted to the chosen one (no nn.DataParallel)"
  $sw train demo --headless --output-dir "$out/one-of-many" --set training.num_train_epochs=1 | grep -m1 "hidden with"

  step "DDP on 2 GPUs over NCCL: every rank's CUDA memory in each log event"
  $sw train demo --headless --gpus 2 --output-dir "$out/ddp2" --set training.num_train_epochs=2
  echo "exit $?"; ranks "$out/ddp2"

  step "QLoRA with DDP: each rank loads the 4-bit model on its own GPU (device_map = local rank)"
  $sw train demo --headless --gpus 2 --output-dir "$out/ddp2-qlora" --set training.num_train_epochs=1 \
    --set quantization.load_in_4bit=true
  echo "exit $?"; ranks "$out/ddp2-qlora"

  step "FSDP2, LoRA and full fine-tuning; final/ must load without FSDP"
  $sw train demo --headless --gpus 2 --output-dir "$out/fsdp2-lora" --set training.num_train_epochs=1 \
    --set distributed.strategy=fsdp
  echo "exit $?"; ranks "$out/fsdp2-lora"
  $sw train demo --headless --gpus 2 --output-dir "$out/fsdp2-full" --set training.num_train_epochs=1 \
    --set distributed.strategy=fsdp --set lora=null
  echo "exit $?"; ranks "$out/fsdp2-full"
  $sw chat "$out/fsdp2-lora" --prompt "What is the capital of France?"

  step "QLoRA under FSDP1 (4-bit storage in bf16, CPU-RAM-efficient loading)"
  $sw train demo --headless --gpus 2 --output-dir "$out/fsdp1-qlora" --set training.num_train_epochs=1 \
    --set distributed.strategy=fsdp --set distributed.fsdp_version=1 --set quantization.load_in_4bit=true \
    --set quantization.bnb_4bit_quant_storage=bfloat16
  echo "exit $?"; ranks "$out/fsdp1-qlora"

  step "stop from another terminal mid-run over NCCL: both ranks stop at one step, then resume to the end"
  $sw train demo --headless --gpus 2 --output-dir "$out/ddp2-stop" --set training.num_train_epochs=4 \
    --set training.logging_steps=1 & pid=$!
  sleep 60; $sw stop "$out/ddp2-stop"; wait $pid; echo "exit $? (130 expected)"; cat "$out/ddp2-stop/ranks/"*.json; echo
  $sw train demo --headless --gpus 2 --output-dir "$out/ddp2-stop" --resume --set training.num_train_epochs=4 \
    --set training.logging_steps=1
  echo "exit $?"; ranks "$out/ddp2-stop"

  step "SIGTERM straight to accelerate's launcher (as Slurm's --signal does): every rank saves, then stops"
  $sw train demo --headless --gpus 2 --output-dir "$out/ddp2-term" --set training.num_train_epochs=4 & pid=$!
  sleep 60; pkill -TERM -f "accelerate.commands.launch.*$out/ddp2-term" ; wait $pid
  echo "exit $? (130 expected)"; ranks "$out/ddp2-term"; ls "$out/ddp2-term" | grep checkpoint

  step "ZeRO-3 (only where DeepSpeed is installed)"
  if python3 -c "import deepspeed" 2>/dev/null; then
    $sw train demo --headless --gpus 2 --output-dir "$out/zero3" --set training.num_train_epochs=1 \
      --set distributed.strategy=zero3
    echo "exit $?"; ranks "$out/zero3"
  else
    echo "DeepSpeed not installed: zero3 is refused (exit 2 expected)"
    $sw check demo --set distributed.processes=2 --set distributed.strategy=zero3; echo "exit $?"
  fi

  step "estimate per GPU vs measured: Llama-3.1-8B LoRA bf16 on 2 GPUs, DDP and FSDP (random weights)"
  for strategy in ddp fsdp; do
    $sw estimate lora-3b-bf16 --set model.name_or_path=meta-llama/Llama-3.1-8B-Instruct \
      --set distributed.processes=2 --set distributed.strategy=$strategy | head -1
  done
fi
