"""Predicting the peak GPU memory of a training run from the model's structure alone.

The prediction is what NVML would show as used by the training process. Each term is in the
breakdown so the user sees what to change. The logits term follows the installed TRL (engine/fit/stack.py);
the fitted constants (logit bytes of materialised logits, allocator overhead) are calibrated on
tests/data/vram-measured.csv and benchmarks/data/vram-published.csv (benchmarks/estimator_accuracy.py),
and the terms are checked against counted allocations of real steps (benchmarks/allocation_truth.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.models.architecture import ModelStructure
from engine.units import GIB, gib


@dataclass(frozen=True)
class Constants:
    """The estimator's fitted constants (benchmarks/estimator_accuracy.py fits them on the `fit` rows only)."""

    cuda_context_bytes: float = 0.5 * GIB
    """CUDA context, cuBLAS workspace and kernels with lazy module loading (CUDA 12+)."""
    allocator_overhead: float = 0.07
    """Caching-allocator fragmentation: reserved (and NVML) above allocated, as a share of the peak."""
    logit_bytes_16bit: float = 10.0
    """Bytes per token and vocabulary entry at the loss: 16-bit logits, their fp32 copy, log-softmax."""
    logit_bytes_fp32: float = 8.0
    """The same when lm_head already computes in fp32 (no separate upcast copy)."""
    logit_bytes_quantized: float = 10.0
    """The same for a 4/8-bit model whose lm_head stays 16-bit."""
    cuda_context_lazy_bytes: float = 0.84 * GIB
    """CUDA context of the installed stack: CUDA 12+ loads kernels lazily (0.84 GiB measured on an H200, CUDA 13)."""


FIRST_CONSTANTS = Constants()
"""The constants before the published-measurement set grew (calibrated on tests/data/vram-measured.csv only)."""
CONSTANTS = Constants(cuda_context_bytes=1.5 * GIB, allocator_overhead=0.06, logit_bytes_16bit=10.5,
                      logit_bytes_quantized=7.0)
"""The constants in use: fitted on the `fit` rows of tests/data/vram-measured.csv and
benchmarks/data/vram-published.csv (benchmarks/estimator_accuracy.py refits and prints them). The
fixed 1.5 GiB reflects those measurements' CUDA 11.8 stacks; estimates of the installed stack use
cuda_context_lazy_bytes instead (MemoryInputs.lazy_cuda_context)."""
NF4_BYTES = 0.5
NF4_CONSTANTS = 4 / 64
"""One fp32 absmax per block of 64 weights."""
NF4_DOUBLE_QUANT_CONSTANTS = 0.127 / 8
"""Double quantization: 8-bit absmax plus second-level constants, about 0.127 bit per weight."""
INT8_BYTES = 1.0
FUSED_HEAD_VOCAB_CHUNK = 32768
"""TRL's fused LM head projects this many vocabulary entries per tile (trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE)."""
FUSED_HEAD_TOKEN_CHUNK = 4096
"""Tokens per tile of the fused head (trl.kernels.chunked_logprob.TOKEN_CHUNK_SIZE)."""
CPU_TILE_COPIES = 5
"""Without Triton the fused head folds each tile with torch ops: about five fp32 copies of the tile live at once."""
LOGITS_MODES = ("full", "chunked")


@dataclass
class MemoryInputs:
    """Everything the estimate depends on, in plain numbers."""

    structure: ModelStructure
    batch_size: int
    seq_len: int
    weight_bytes: float = 2.0
    """Bytes per unquantized weight: 2 for bf16/fp16, 4 for fp32."""
    quantization: str | None = None
    """None, "4bit" or "8bit"."""
    double_quant: bool = False
    lora_r: int | None = None
    lora_targets: list[str] = field(default_factory=list)
    lora_dropout: float = 0.0
    lora_extra_trainable: int = 0
    """Parameters of modules_to_save copies (trained in full)."""
    extra_param_bytes: float | None = None
    """Bytes per modules_to_save parameter: PEFT copies them in the weights' dtype (None: weight_bytes)."""
    lora_param_bytes: float = 4.0
    """PEFT keeps LoRA weights in fp32; TRL casts them to bf16 for quantized models."""
    optimizer: str = "adamw_torch"
    checkpointing: bool = True
    checkpoint_every: int = 1
    """activation_checkpointing_kwargs every_n_layers: only every n-th layer is checkpointed."""
    checkpoint_offload: bool = False
    """activation_checkpointing_kwargs offload: the checkpointed hidden states wait in host memory."""
    attention: str = "sdpa"
    upcast_non_quantized: bool = False
    """Whether non-quantized weights of a k-bit model are cast to fp32 (older PEFT/TRL did)."""
    processes: int = 1
    """Data-parallel processes, one per GPU; the estimate is per GPU."""
    strategy: str = "ddp"
    """ddp (a full copy per GPU) or fsdp/zero3 (weights, gradients and optimizer states sharded)."""
    offload: bool = False
    """FSDP/ZeRO-3 keep parameters and optimizer states in CPU memory."""
    logits: str = "full"
    """full: the loss materialises batch × seq × vocab logits; chunked: TRL's fused LM head scores them in tiles."""
    lazy_cuda_context: bool = False
    """The CUDA context of a recent stack (lazy kernel loading) rather than the published tables' fitted one."""
    assumes: str = ""
    """The library behaviour assumed, in words ("logits: chunked (TRL 1.16.0 fused LM head)")."""
    device: str = "cuda"
    """cuda, or cpu for the allocation-count benchmark (no Triton: the fused head's tiles are folded in fp32 torch ops)."""

    @property
    def sharded(self) -> bool:
        """Whether weights, gradients and optimizer states are split across the processes."""
        return self.processes > 1 and self.strategy in ("fsdp", "zero3")


@dataclass
class Estimate:
    """Predicted peak memory with its parts (bytes)."""

    total_bytes: int
    breakdown: dict[str, int]
    trainable_params: int
    notes: list[str] = field(default_factory=list)
    inputs: MemoryInputs | None = None


def optimizer_state_bytes(optimizer: str, param_bytes: float) -> tuple[float, str | None]:
    """Optimizer state bytes per trainable parameter, and a note when it lives outside the allocator."""
    name = optimizer.lower()
    note = "paged optimizer states are CUDA managed memory: NVML shows them, torch.cuda.memory_reserved does not" \
        if "paged" in name else None
    if "8bit" in name or "bnb_8bit" in name:
        per = 2.0 if "adam" in name or "ademamix" in name else 1.0
        return per + 0.02, note  # + block statistics
    if "4bit" in name:
        return 1.0, note
    if name.startswith("sgd"):
        return 0.0, note
    if "adafactor" in name:
        return 0.05, note  # factored second moments: rows + columns
    if "lion" in name or "rmsprop" in name or "adagrad" in name:
        return 4.0 if "32bit" in name or param_bytes >= 4 else param_bytes, note
    # AdamW and friends: two states in the parameters' dtype.
    return 2 * param_bytes, note


def _weights(s: ModelStructure, inputs: MemoryInputs) -> tuple[int, int]:
    """Bytes of the base weights, and of its non-quantized part."""
    if inputs.quantization is None:
        return int(s.total_params * inputs.weight_bytes), 0
    quantized = sum(g.params for name, g in s.linear.items() if name != "lm_head") + fused_expert_params(s)
    if inputs.quantization == "4bit":
        per = NF4_BYTES + (NF4_DOUBLE_QUANT_CONSTANTS if inputs.double_quant else NF4_CONSTANTS)
    else:
        per = INT8_BYTES + 0.01
    other_bytes = 4.0 if inputs.upcast_non_quantized else inputs.weight_bytes
    unquantized = int((s.total_params - quantized) * other_bytes)
    return int(quantized * per) + unquantized, unquantized


def fused_expert_params(s: ModelStructure) -> int:
    """Mixture-of-experts weights stored as fused 3-D tensors rather than Linear layers."""
    norms_and_biases = (2 * s.num_layers + 1) * s.hidden_size * 4
    return max(0, s.other_params - norms_and_biases) if s.num_experts else 0


def lora_params(s: ModelStructure, r: int, targets: list[str]) -> int:
    """Trainable LoRA parameters: r·(in + out) for every targeted Linear layer."""
    return sum(r * (s.linear[name].in_features + s.linear[name].out_features) * s.linear[name].count
               for name in targets if name in s.linear)


def _layer_activation_bytes(s: ModelStructure, inputs: MemoryInputs) -> float:
    """Bytes saved for backward by one decoder layer, per token, in 16-bit compute."""
    h, i = s.hidden_size, s.intermediate_size
    kv = s.num_kv_heads * s.head_dim
    q = s.num_heads * s.head_dim
    experts = max(1, s.experts_per_token)
    # attention: norm in/out, q, k, v, output; MLP: norm in/out, gate, act(gate), up, gate*up (per active expert)
    elements = 2 * h + q + 2 * kv + q + 2 * h + 4 * i * experts
    # RMSNorm computes in fp32 and keeps that copy of its input for backward, twice a layer; its 16-bit
    # output is kept too when its weight trains (full fine-tuning)
    fp32_norm_copies = 2 * h * 4 + (2 * h * 2 if inputs.lora_r is None else 0)
    lora = 0.0
    if inputs.lora_r:
        for name in inputs.lora_targets:
            group = inputs.structure.linear.get(name)
            if group is None:
                continue
            per_layer = group.count / max(1, s.num_layers)
            dropout = group.in_features * 3 if inputs.lora_dropout > 0 else 0  # dropped input (16-bit) + mask
            lora += per_layer * (dropout + inputs.lora_r * 2)
    return elements * 2 + fp32_norm_copies + lora


def logit_bytes(inputs: MemoryInputs, constants: Constants = CONSTANTS) -> float:
    """Bytes per token and vocabulary entry at the loss for these inputs."""
    if inputs.quantization is not None and inputs.upcast_non_quantized or inputs.weight_bytes >= 4:
        return constants.logit_bytes_fp32  # lm_head already computes in fp32
    return constants.logit_bytes_quantized if inputs.quantization else constants.logit_bytes_16bit


def _head_trainable(inputs: MemoryInputs) -> bool:
    """Whether lm_head gets a gradient: full fine-tuning, or lm_head among LoRA's modules_to_save."""
    return inputs.lora_r is None or inputs.lora_extra_trainable >= inputs.structure.lm_head_params > 0


def chunked_logits_bytes(inputs: MemoryInputs) -> float:
    """Peak bytes of TRL's fused LM head (trl.kernels.chunked_logprob), which never holds the full logits.

    Its backward holds the saved hidden states, one [4096 tokens × 32768 vocabulary] tile in the compute
    dtype, an fp32 gradient of the hidden states (and of lm_head's weight when that trains) and its cast
    back. Without Triton (CPU) each tile is folded by torch ops in fp32 and the GEMMs read fp32 copies,
    one after the other.
    """
    s = inputs.structure
    tokens = inputs.batch_size * inputs.seq_len
    compute = 4.0 if inputs.weight_bytes >= 4 and inputs.quantization is None else 2.0
    rows = min(tokens, FUSED_HEAD_TOKEN_CHUNK)
    width = min(s.vocab_size, FUSED_HEAD_VOCAB_CHUNK)
    hidden = tokens * s.hidden_size
    total = rows * FUSED_HEAD_VOCAB_CHUNK * compute + hidden * compute + hidden * (4 + compute)
    if _head_trainable(inputs):
        total += s.vocab_size * s.hidden_size * 4
    if inputs.device == "cpu":  # the fold's fp32 copies of a tile, then the GEMM's fp32 copies of a tile and a weight chunk
        total += max(CPU_TILE_COPIES * rows * width * 4, rows * width * 4 + width * s.hidden_size * 4)
    return total


def estimate_memory(inputs: MemoryInputs, constants: Constants = CONSTANTS) -> Estimate:
    """Predict peak training memory (NVML view) with its breakdown."""
    s = inputs.structure
    tokens = inputs.batch_size * inputs.seq_len
    notes: list[str] = []
    weights, unquantized = _weights(s, inputs)

    extra = 0
    if inputs.lora_r:
        adapters = lora_params(s, inputs.lora_r, inputs.lora_targets)
        extra = inputs.lora_extra_trainable
        trainable = adapters + extra
        param_bytes = inputs.lora_param_bytes
        extra_bytes = inputs.extra_param_bytes or inputs.weight_bytes
        trainable_weight_bytes = adapters * param_bytes + extra * extra_bytes
    else:
        trainable = adapters = s.total_params
        param_bytes = extra_bytes = inputs.weight_bytes
        trainable_weight_bytes = 0  # the weights term already holds them
    state_per_param, paged_note = optimizer_state_bytes(inputs.optimizer, param_bytes)
    extra_state, _ = optimizer_state_bytes(inputs.optimizer, extra_bytes)
    gradients = adapters * param_bytes + extra * extra_bytes
    optimizer = adapters * state_per_param + extra * extra_state
    if paged_note:
        notes.append(paged_note)

    layer = _layer_activation_bytes(s, inputs)
    if inputs.checkpointing:
        # one hidden state per checkpointed layer (none on the device when offloaded), the other layers in
        # full, plus one layer recomputed in full during backward
        checkpointed = -(-s.num_layers // max(1, inputs.checkpoint_every))
        boundary = 0 if inputs.checkpoint_offload else 2 * s.hidden_size * checkpointed
        activations = tokens * (boundary + layer * (s.num_layers - checkpointed) + layer)
    else:
        activations = tokens * layer * s.num_layers
    attention_matrix = 0
    if inputs.attention == "eager":
        per_layer = 5 * s.num_heads * inputs.seq_len * tokens  # scores, softmax and dropout mask
        attention_matrix = per_layer * (1 if inputs.checkpointing else s.num_layers)
        notes.append("eager attention materialises the attention matrix; sdpa or flash_attention_2 do not")
    if inputs.logits == "chunked":
        logits = chunked_logits_bytes(inputs)
    else:
        logits = tokens * s.vocab_size * logit_bytes(inputs, constants)

    states = {"weights": weights, "trainable_params": trainable_weight_bytes, "gradients": gradients,
              "optimizer_states": optimizer}
    parallel = _parallel_terms(inputs, states, notes)
    allocated = sum(states.values()) + activations + attention_matrix + logits + sum(parallel.values())
    overhead = int(allocated * constants.allocator_overhead) if inputs.device == "cuda" else 0
    context = constants.cuda_context_lazy_bytes if inputs.lazy_cuda_context else constants.cuda_context_bytes
    breakdown = {
        **{name: int(value) for name, value in states.items()},
        "activations": int(activations + attention_matrix),
        "logits_and_loss": int(logits),
        **{name: int(value) for name, value in parallel.items()},
        "cuda_context": int(context) if inputs.device == "cuda" else 0,
        "allocator_overhead": overhead,
    }
    if unquantized and inputs.quantization:
        notes.append(f"{gib(unquantized)} of the weights stay unquantized (embeddings, lm_head, norms)")
    return Estimate(sum(breakdown.values()), breakdown, int(trainable), notes, inputs)


def _parallel_terms(inputs: MemoryInputs, states: dict[str, float], notes: list[str]) -> dict[str, float]:
    """Per-GPU changes with several processes: DDP's gradient buckets, or the shards and gathered layers of FSDP/ZeRO-3.

    `states` (weights, trainable params, gradients, optimizer states) is divided in place when sharded.
    """
    if inputs.processes <= 1:
        return {}
    if not inputs.sharded:
        notes.append(f"ddp: every one of the {inputs.processes} GPUs holds a full copy of the model, gradients and "
                     "optimizer states")
        return {"ddp_gradient_buckets": states["gradients"]}  # DDP all-reduces through a bucket copy of the gradients
    s = inputs.structure
    full_weights = states["weights"]
    for name in states:
        states[name] = 0 if inputs.offload else states[name] / inputs.processes
    where = "CPU memory" if inputs.offload else f"1/{inputs.processes} per GPU"
    notes.append(f"{inputs.strategy}: weights, gradients and optimizer states sharded ({where}); one decoder layer "
                 "at a time is gathered in full, plus the next one prefetched")
    return {"gathered_layers": 2 * full_weights / max(1, s.num_layers)}
