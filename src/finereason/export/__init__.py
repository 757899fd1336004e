"""Exports: LLaMA-Factory / ms-swift JSONL, TRL and HF Parquet, and the dataset card."""
