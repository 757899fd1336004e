"""finereason: build multimodal chain-of-thought data, verify it, select it, train and evaluate on it."""

__version__ = "0.1.0"
