"""Upstream code copied in unchanged, each folder at one commit with its licence: llama_cpp/ is llama.cpp's HF → GGUF converter."""

from pathlib import Path

LLAMA_CPP_DIR = Path(__file__).parent / "llama_cpp"
"""llama.cpp's convert_hf_to_gguf.py, its conversion/ modules and gguf-py/ (see llama_cpp/SOURCE.md)."""
