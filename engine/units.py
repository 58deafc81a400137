"""Byte sizes: the constants and the two ways people read them (always GiB, or MiB/GiB by size)."""

from __future__ import annotations

MIB = 1024**2
GIB = 1024**3


def gib(value: float) -> str:
    """Bytes as GiB with two decimals."""
    return f"{value / GIB:.2f} GiB"


def human_bytes(value: float | None) -> str:
    """Bytes as MiB below one GiB, else GiB; ? when unknown."""
    if value is None:
        return "?"
    if value >= GIB:
        return gib(value)
    return f"{value / MIB:.0f} MiB"
