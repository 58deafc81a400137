"""What a run produces for users: generation, merged models, exported scripts and GGUF files (llama_cpp/: the vendored converter)."""
