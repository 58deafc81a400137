"""sft-wizard's rule for Hub kernels (model.use_kernels: auto | true | false), self-contained so exported scripts copy it.

transformers 5.2x kernelizes every from_pretrained model by default and, at the first `model.train()` on CUDA,
fetches compiled code such as `kernels-community/rotary` from the Hub. The rule decides instead: `auto` uses Hub
kernels only where they are in the local cache, or where the Hub is reachable and their publisher is trusted;
`true` insists (KernelsUnavailable offline when one is missing); `false` never uses them.
"""

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from torch import nn

TRUSTED_PUBLISHERS = ("kernels-community",)
"""Publishers whose kernels `auto` downloads: Hugging Face's own, which the kernels library verifies as a trusted
kernel publisher on the Hub before any download. Repositories transformers loads with trust_remote_code (other
publishers) are not settled, so `auto` leaves them alone."""


class KernelsUnavailable(Exception):
    """`use_kernels: true` cannot be met on this machine; the message names the kernel and how to get it."""


@dataclass(frozen=True)
class HubKernel:
    """One kernel repository transformers would load for a model: its Hub id and version (or pinned revision)."""

    repo_id: str
    version: int | None = None
    revision: str | None = None

    @property
    def label(self) -> str:
        """`kernels-community/rotary version 2`, or repo@revision."""
        return f"{self.repo_id} version {self.version}" if self.version is not None else f"{self.repo_id}@{self.revision}"

    @property
    def trusted(self) -> bool:
        """Whether its publisher is one the kernels library verifies as trusted."""
        return self.repo_id.split("/", 1)[0] in TRUSTED_PUBLISHERS

    @property
    def download_command(self) -> str:
        """The command that puts it into the local cache on a connected machine with the same GPU stack."""
        which = f"version={self.version}" if self.version is not None else f"revision={self.revision!r}"
        return f"python -c \"from kernels import get_kernel; get_kernel('{self.repo_id}', {which})\""


@dataclass
class KernelFacts:
    """What the decision depends on; gathered by kernel_facts, written by hand in tests."""

    asked: str
    """auto, true or false."""
    device: str
    """Where the model runs: cuda, rocm, xpu or cpu."""
    needed: tuple[HubKernel, ...] | None = ()
    """The Hub kernels transformers would load for this model on that device; None when that cannot be told."""
    missing: tuple[HubKernel, ...] = ()
    """Those of `needed` that are not in the local cache."""
    installed: bool = True
    """Whether a kernels package transformers accepts is installed."""
    env_disabled: bool = False
    """Whether USE_HUB_KERNELS turns transformers' Hub kernels off."""
    offline: bool = False
    """Whether the Hub is in offline mode (HF_HUB_OFFLINE)."""
    reachable: bool | None = None
    """Whether the Hub answered; None when nobody asked (only auto with kernels to use asks)."""


@dataclass
class KernelsDecision:
    """Whether the model loads with Hub kernels, with the reason (for run.yaml and the one line a user sees)."""

    asked: str
    enabled: bool
    reason: str
    kernels: list[str] = field(default_factory=list)
    """The Hub kernels this model would use on its device."""

    @property
    def note(self) -> str | None:
        """The one line a user sees when kernels that apply are left out; None when there is nothing to say."""
        if self.enabled or not self.kernels or self.asked == "false":
            return None
        return f"Hub kernels not used: {self.reason} (model.use_kernels: {self.asked})"

    def to_dict(self) -> dict:
        """Plain data for run.yaml."""
        return {"asked": self.asked, "enabled": self.enabled, "reason": self.reason, "kernels": list(self.kernels)}


def decide_kernels(facts: KernelFacts) -> KernelsDecision:
    """The decision table: false never; true always (KernelsUnavailable when it cannot be met); auto where it can."""
    asked, labels = facts.asked, [kernel.label for kernel in facts.needed or ()]

    def decision(enabled: bool, reason: str) -> KernelsDecision:
        return KernelsDecision(asked, enabled, reason, labels)

    if asked == "false":
        return decision(False, "model.use_kernels is false")
    if not facts.installed:
        if asked == "true":
            raise KernelsUnavailable("model.use_kernels is true but the kernels package is not installed; install it "
                                     "(`pip install kernels`) or set model.use_kernels: auto.")
        return decision(False, "the kernels package is not installed")
    if facts.env_disabled:
        if asked == "true":
            raise KernelsUnavailable(f"model.use_kernels is true but USE_HUB_KERNELS={os.environ.get('USE_HUB_KERNELS')}"
                                     " turns Hub kernels off; unset USE_HUB_KERNELS or set model.use_kernels: false.")
        return decision(False, "USE_HUB_KERNELS turns them off")
    if facts.needed is None:
        return decision(asked == "true", "which Hub kernels this model uses cannot be told (it does not build on the "
                                         "meta device)")
    if not facts.needed:
        return decision(asked == "true", f"no Hub kernel applies to this model on {facts.device}")
    if not facts.missing:
        return decision(True, "in the local cache: " + ", ".join(labels))
    missing = ", ".join(kernel.label for kernel in facts.missing)
    if facts.offline or facts.reachable is False:
        if asked == "true":
            how = "; ".join(kernel.download_command for kernel in facts.missing)
            raise KernelsUnavailable(
                f"model.use_kernels is true but these Hub kernels are not in the local cache and the Hugging Face Hub "
                f"is offline: {missing}. Download them on a connected machine with the same GPU and software (`{how}`) "
                "and copy its cache (~/.cache/huggingface/hub, or KERNELS_CACHE) here, or set model.use_kernels: auto "
                "(or false).")
        return decision(False, f"{missing} not in the local cache and the Hub is offline")
    untrusted = [kernel.label for kernel in facts.missing if not kernel.trusted]
    if untrusted and asked == "auto":
        return decision(False, f"{', '.join(untrusted)} comes from a publisher that is not a trusted kernel publisher "
                               "(model.use_kernels: true uses it anyway)")
    return decision(True, f"downloads {missing} from the Hub")


def kernel_facts(asked: str, device: str, training: bool, meta_model: Callable[[], "nn.Module"], offline: bool,
                 hub_reachable: Callable[[], bool]) -> KernelFacts:
    """The facts of this machine: which kernels the model (built by `meta_model`) would use, which are cached, the Hub.

    The Hub is asked (hub_reachable) only for `auto` or `true`, not offline, with kernels to use.
    """
    facts = KernelFacts(asked, device)
    if asked == "false":
        return facts
    from transformers.utils import is_kernels_available

    if not is_kernels_available():
        facts.installed = False
        return facts
    from transformers.integrations import hub_kernels

    facts.env_disabled = not hub_kernels._kernels_enabled()
    facts.needed = model_kernels(meta_model, device, training)
    facts.missing = tuple(kernel for kernel in facts.needed or () if not kernel_cached(kernel))
    facts.offline = offline
    if facts.needed and not offline:
        facts.reachable = hub_reachable()
        if not facts.reachable:  # kernels would still ask the Hub for refs and trust; offline it reads the cache
            from huggingface_hub import constants

            constants.HF_HUB_OFFLINE = True
            os.environ["HF_HUB_OFFLINE"] = "1"  # and so do the ranks this process launches
    return facts


def model_kernels(meta_model: Callable[[], "nn.Module"], device: str, training: bool) -> tuple[HubKernel, ...] | None:
    """The Hub kernels transformers' default mapping gives the model's layers on `device`; None if it does not build."""
    from transformers.integrations import hub_kernels

    try:
        built = meta_model()
    except Exception:  # an architecture that does not build on the meta device: nothing can be said
        return None
    names = set()
    for module in built.modules():
        for function in getattr(module, "_kernel_funcs", {}).values():
            names.add(str(type(function).kernel_layer_name))
        if hasattr(type(module), "kernel_layer_name"):
            names.add(str(type(module).kernel_layer_name))
    mapping = hub_kernels.get_kernel_mapping_transformers()
    try:
        found = {kernel for name in names for kernel in _repositories(mapping.get(name), device, training)}
    except AttributeError:  # a transformers or kernels release whose mapping is shaped otherwise: unknown
        return None
    return tuple(sorted(found, key=lambda kernel: kernel.repo_id))


def _repositories(entry: dict | None, device: str, training: bool) -> list[HubKernel]:
    """The repositories of one mapping entry that serve `device` in training (or inference)."""
    from transformers.integrations.hub_kernels import Mode

    mode = Mode.TRAINING if training else Mode.INFERENCE
    repos = []
    for key, value in (entry or {}).items():
        if getattr(key, "type", key) != device or not _capability_matches(key):
            continue
        if isinstance(value, dict):  # per mode; a plain repository serves every mode
            repos += [repo for modes, repo in value.items() if mode in modes or modes == Mode.FALLBACK]
        else:
            repos.append(value)
    return [HubKernel(repo._repo_id, getattr(repo, "_version", None), getattr(repo, "_revision", None)) for repo in repos]


def _capability_matches(device_key: object) -> bool:
    """Whether a device key restricted to compute capabilities (e.g. 12.1 only) fits this machine's GPU."""
    properties = getattr(device_key, "properties", None)
    if properties is None or not hasattr(properties, "min_capability"):
        return True
    import torch

    if not torch.cuda.is_available():
        return False
    major, minor = torch.cuda.get_device_capability()
    return properties.min_capability <= major * 10 + minor <= properties.max_capability


def kernel_cached(kernel: HubKernel) -> bool:
    """Whether the kernel's version (or revision) has a snapshot in the kernels cache, without asking the Hub."""
    from huggingface_hub import constants

    folder = "kernels--" + kernel.repo_id.replace("/", "--")  # the Hub cache's folder for a kernel repository
    root = Path(os.environ.get("KERNELS_CACHE") or constants.HF_HUB_CACHE) / folder
    commit = kernel.revision
    if kernel.version is not None:
        ref = root / "refs" / f"v{kernel.version}"
        commit = ref.read_text().strip() if ref.is_file() else None
    snapshot = root / "snapshots" / commit if commit else None
    return bool(snapshot and snapshot.is_dir() and any(snapshot.iterdir()))


def training_device() -> str:
    """The device type kernels would be fetched for: cuda (rocm, xpu) or cpu."""
    import torch

    if torch.cuda.is_available():
        return "rocm" if getattr(torch.version, "hip", None) else "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    return "cpu"


def hub_offline() -> bool:
    """Whether the user put the Hugging Face Hub in offline mode (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def hub_answers(timeout: float = 3.0) -> bool:
    """Whether huggingface.co accepts a connection within `timeout` seconds."""
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False
