"""Training: SFT of small VLMs on distilled data, and visual extraction tuning.

=================  ==========================================================================
module             what it is
=================  ==========================================================================
config             the SFT recipe (YAML, pydantic, errors naming the key) and its checks
families           per-family facts: vision tower / projector lookup, freezing, packing
data               examples from a ``finereason export --format trl`` folder
encode             one example → ids, labels, vision tensors (the processor does the work)
preflight          every example encoded once before training; per-sample problem report
packing            best-fit packing of examples into rows of ``max_length`` tokens
collate            rows → padded or packed model batches
sft                the run: preflight, model, freezing/LoRA, TRL SFTTrainer, save, eval
external           the same recipe as LLaMA-Factory YAML or ms-swift arguments
vet                visual extraction tuning data (statements → description → instruction)
commands           ``finereason train sft|export-config`` and ``finereason vet build``
=================  ==========================================================================

Heavy libraries (torch, transformers, trl, peft) are imported inside functions, so the CLI
starts fast and ``finereason --help`` works without the ``train`` extra.
"""
