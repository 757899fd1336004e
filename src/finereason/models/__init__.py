"""Models: one interface, many engines, one journaled client.

Only light modules are imported here; transformers/vLLM backends load when their spec does.
"""

from .client import Backoff, ModelClient, Progress
from .journal import Failure, Journal, request_key
from .openai_http import OpenAIModel, Timeouts
from .backends import load_model
from .spec import ModelSpec, SpecError, parse_spec
from .types import Completion, Message, Model, ModelError, SamplingParams, Usage

__all__ = [
    "Backoff",
    "Completion",
    "Failure",
    "Journal",
    "Message",
    "Model",
    "ModelClient",
    "ModelError",
    "ModelSpec",
    "OpenAIModel",
    "Progress",
    "SamplingParams",
    "SpecError",
    "Timeouts",
    "Usage",
    "load_model",
    "parse_spec",
    "request_key",
]
