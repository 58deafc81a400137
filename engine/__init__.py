"""sft-wizard's engine: configuration, data, models, hardware, memory and training, with no UI.

Importing this package is cheap: torch, transformers, trl, peft and datasets load only when
work that needs them starts.
"""

__version__ = "0.1.0"
