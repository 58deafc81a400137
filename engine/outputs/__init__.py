"""What a run produces for users: generation, merged models, exported scripts and GGUF files (llama.cpp's converter is in third_party/llama_cpp/)."""
