"""Counting the live tensor bytes of real work on any device: the estimator's ground truth without a GPU.

Every tensor an operator returns is followed to its storage; a storage counts once, from its first
appearance until Python's weak reference to it dies (PyTorch keeps one Python object per live
storage). What is counted is what the CUDA caching allocator would be asked for, before its block
rounding and fragmentation, and without the CUDA context: the estimate's terms minus those two.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode


@dataclass
class AllocationCount:
    """Live tensor bytes now and at their peak, with the label of the phase the peak fell in."""

    live_bytes: int = 0
    peak_bytes: int = 0
    peak_phase: str = ""
    phase: str = "start"
    phase_peaks: dict[str, int] = field(default_factory=dict)
    _seen: "dict[int, weakref.ref[torch.UntypedStorage]]" = field(default_factory=dict, repr=False)

    def add(self, storage: "torch.UntypedStorage") -> None:
        """Count a storage once, until it is freed."""
        key = storage._cdata
        if key in self._seen or storage.device.type == "meta":
            return
        size = storage.nbytes()
        self._seen[key] = weakref.ref(storage, lambda _ref, key=key, size=size: self._free(key, size))
        self.live_bytes += size
        if self.live_bytes > self.phase_peaks.get(self.phase, 0):
            self.phase_peaks[self.phase] = self.live_bytes
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes, self.peak_phase = self.live_bytes, self.phase

    def _free(self, key: int, size: int) -> None:
        if self._seen.pop(key, None) is not None:
            self.live_bytes -= size

    def add_tensors(self, tensors: Iterable[object]) -> None:
        """Count the storages of already existing tensors (a model's parameters and buffers)."""
        import torch

        for tensor in tensors:
            if isinstance(tensor, torch.Tensor):
                self.add(tensor.untyped_storage())

    def restart_peak(self, phase: str) -> None:
        """Count the peak from here on (what is live now stays counted): the training step, not the loading."""
        self.peak_bytes, self.peak_phase, self.phase = self.live_bytes, phase, phase

    def begin(self, phase: str) -> None:
        """Label what follows (forward, backward, optimizer step)."""
        self.phase = phase


def counting_mode(count: AllocationCount) -> "TorchDispatchMode":
    """A TorchDispatchMode that adds the storage of every tensor an operator returns to `count`."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Counting(TorchDispatchMode):
        def __torch_dispatch__(self, func: Callable[..., object], types: Sequence[type], args: Sequence[object] = (),
                               kwargs: Mapping[str, object] | None = None) -> object:
            out = func(*args, **(kwargs or {}))
            for tensor in tree_flatten(out)[0]:
                if isinstance(tensor, torch.Tensor):
                    count.add(tensor.untyped_storage())
            return out

    return _Counting()
