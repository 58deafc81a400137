"""A finished run as a GGUF for llama.cpp, Ollama and LM Studio: preflight, llama.cpp's converter, Modelfile, read-back."""
