"""The machine: GPUs over NVML, the precision decision and memory telemetry."""
