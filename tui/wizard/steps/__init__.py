"""The wizard's steps, one module each, every one a thin view over the engine's run config."""
