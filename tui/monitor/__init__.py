"""The live training monitor: screen, charts, event sources and the try-a-prompt screen."""
