"""Selection: pass-rate subsets, verdict and quality-flag filters, reproducible caps and balance."""
