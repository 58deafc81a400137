"""Editing a dataset section's sources: one source lives in the section itself, several in dataset.sources."""

from __future__ import annotations

import copy
import dataclasses

from engine.config.run_config import MIXTURE_KEYS, DatasetSection

SOURCE_KEYS = tuple(f.name for f in dataclasses.fields(DatasetSection) if f.name not in MIXTURE_KEYS)
"""The keys each source has for itself (path, format, columns, share, …)."""


def source_at(dataset: DatasetSection, index: int) -> DatasetSection:
    """The source an editor shows at index: the section itself for one source."""
    return dataset.sources[index] if dataset.is_mixture else dataset


def add_source(dataset: DatasetSection, path: str = "") -> int:
    """Add a source (the one source moved into dataset.sources first); its index."""
    if not dataset.is_mixture:
        dataset.sources = [_own(dataset)]
        defaults = DatasetSection()
        for key in SOURCE_KEYS:
            setattr(dataset, key, copy.deepcopy(getattr(defaults, key)))
    dataset.sources.append(DatasetSection(path=path))
    return len(dataset.sources) - 1


def remove_source(dataset: DatasetSection, index: int) -> None:
    """Remove a source; the last one left moves back into the section, so the preset is written short again."""
    if not dataset.is_mixture:
        return
    del dataset.sources[index]
    if len(dataset.sources) == 1:
        last = dataset.sources.pop()
        for key in SOURCE_KEYS:
            setattr(dataset, key, getattr(last, key))


def _own(dataset: DatasetSection) -> DatasetSection:
    """The section's per-source keys as a source of their own."""
    return DatasetSection(**{key: copy.deepcopy(getattr(dataset, key)) for key in SOURCE_KEYS})
