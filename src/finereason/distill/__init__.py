"""Stage 2: dense captions and long chain-of-thought from a teacher model."""
