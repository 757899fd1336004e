"""What one evaluation run is asked to do: models, mode, decoding per module, caches, statistics.

Defaults follow the Downscaling code: greedy perception with 1024 new tokens; a sampled reasoner
(thinking: T=0.6, top-p 0.95, 4096 + 1024 tokens; no thinking: T=0.7, top-p 0.8, 1024 tokens).
Everything here is written into ``summary.json`` as the run's settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from finereason.errors import UserError
from finereason.evaluate.thinking import Budget
from finereason.models.types import SamplingParams

Mode = Literal["direct", "decoupled", "extract-think"]
MODULES = ("instruction", "perception", "answer")
#: Scoring protocols (``eval --protocol``); which a benchmark offers is its ``protocols``.
PROTOCOLS = ("strict", "official")


def default_decoding(think: bool) -> dict[str, SamplingParams]:
    """Defaults as in the Downscaling code: greedy perception with 1024 tokens; a sampled reasoner
    (thinking: T=0.6, top-p 0.95, 4096+1024 tokens; direct: T=0.7, top-p 0.8, 1024 tokens)."""
    answer = (SamplingParams(max_tokens=5120, temperature=0.6, top_p=0.95) if think
              else SamplingParams(max_tokens=1024, temperature=0.7, top_p=0.8))
    return {
        "instruction": SamplingParams(max_tokens=64, temperature=0.0, top_p=1.0),
        "perception": SamplingParams(max_tokens=1024, temperature=0.0, top_p=1.0),
        "answer": answer,
    }


class EvalConfigError(UserError):
    """Settings that cannot make a run (a missing model for the mode, an unknown module)."""


@dataclass
class EvalConfig:
    """Everything a run needs; written into ``summary.json`` as its settings."""

    benchmark: str
    data: Path
    out: Path
    mode: Mode = "direct"
    model: str | None = None
    perception: str | None = None
    reasoning: str | None = None
    instruction_model: str | None = None
    instructions: Literal["generic", "query"] = "query"
    think: bool = False
    think_budget: int | None = None
    answer_tokens: int = 1024
    suppress_words: tuple[str, ...] = ()
    no_image: bool = False
    responses: Path | None = None
    limit: int | None = None
    seed: int = 0
    decoding: dict[str, dict[str, Any]] = field(default_factory=dict)
    instructions_file: Path | None = None
    descriptions_file: Path | None = None
    journal: Path | None = None
    concurrency: int | None = None
    n_boot: int = 1000
    label: str | None = None
    #: An LLM that reads the answers the rules leave unparsed (MathVista's extraction prompt).
    extractor: str | None = None
    #: ``strict``, or ``official``: MathVista's own scorer's deterministic leniency on top.
    protocol: str = "strict"

    def __post_init__(self) -> None:
        self.data, self.out = Path(self.data), Path(self.out)
        if self.mode == "extract-think":
            self.think = True
        if self.mode not in ("direct", "decoupled", "extract-think"):
            raise EvalConfigError(f"mode must be direct, decoupled or extract-think, got {self.mode!r}")
        if self.protocol not in PROTOCOLS:
            raise EvalConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if self.instructions not in ("generic", "query"):
            raise EvalConfigError(f"instructions must be generic or query, got {self.instructions!r}")
        for module in self.decoding:
            if module not in MODULES:
                raise EvalConfigError(f"decoding module {module!r} is not one of {', '.join(MODULES)}")
        if self.responses is not None:
            return
        if self.mode == "direct" and not self.model:
            raise EvalConfigError("--mode direct needs --model SPEC (a VLM, or any model with --no-image)")
        if self.mode != "direct" and not self.reasoning:
            raise EvalConfigError(f"--mode {self.mode} needs --reasoning SPEC")
        if self.mode != "direct" and not self.no_image and not self.perception:
            raise EvalConfigError(f"--mode {self.mode} needs --perception SPEC (or --no-image)")
        if self.think_budget is not None and self.think_budget < 1:
            raise EvalConfigError("--think-budget must be a positive number of tokens")

    @property
    def answerer(self) -> str | None:
        return self.model if self.mode == "direct" else self.reasoning

    @property
    def uses_instructions(self) -> bool:
        return self.mode != "direct" and not self.no_image and self.instructions == "query" and self.responses is None

    @property
    def writer(self) -> str | None:
        """The instruction model: given, else the reasoner (Prism's choice)."""
        return self.instruction_model or self.reasoning

    def sampling(self) -> dict[str, SamplingParams]:
        params = default_decoding(self.think)
        for module, overrides in self.decoding.items():
            params[module] = replace(params[module], **overrides)
        if params["answer"].temperature > 0:
            params["answer"] = replace(params["answer"], seed=self.seed)
        return params

    def budget(self) -> Budget | None:
        return Budget(self.think_budget, self.answer_tokens) if self.think_budget else None

    def journal_path(self) -> Path:
        return self.journal or self.out / "journal.sqlite"

    def settings(self) -> dict[str, Any]:
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        out["suppress_words"] = list(self.suppress_words)
        out["sampling"] = {m: p.as_dict() for m, p in self.sampling().items()}
        return out


