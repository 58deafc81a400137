"""The CPU cores this process may run on (its affinity, as a container or `taskset` limits it)."""

from __future__ import annotations

import os


def usable_cpu_count() -> int:
    """Cores this process may use: its CPU affinity where the OS has one, else all the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
