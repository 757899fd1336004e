"""Model spec strings: one string names a model and where it runs.

A recipe, the CLI and the journal all address a model by one string, so the string has to be
parsed in one place, with errors that quote it. Heavy backends (torch, vLLM) are imported only
when their spec is loaded, so ``finereason`` stays importable on a machine without them.

Accepted forms::

    openai:<model>@<base_url>[,<base_url>...]   e.g. openai:Qwen/Qwen3-VL-8B@http://gpu1:8000/v1,http://gpu2:8000/v1
    openai://host:port/v1/<model>               e.g. openai://localhost:8000/v1/Qwen/Qwen3-VL-8B
    openai-text:<model>@<base_url>              the same, for a text-only model (images need a perceiver)
    hf:<path or hub id>
    builtin:<name>                              smollm2 | ocr
    perceiver:<args>                            handed to finereason.models.perceiver as is
    vllm:<path or hub id>
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from finereason.errors import UserError

from .endpoint_url import url_problem

#: Which module implements each backend kind; every one defines ``load(spec, **opts) -> Model``.
BACKEND_MODULES = {
    "hf": "finereason.models.hf",
    "builtin": "finereason.models.builtin",
    "perceiver": "finereason.models.perceiver",
    "vllm": "finereason.models.vllm_engine",
}
BUILTIN_NAMES = ("smollm2", "ocr")


class SpecError(UserError):
    """A model spec string that cannot be understood; the message quotes the spec."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec. ``endpoints`` is only set for ``openai`` (base URLs ending in ``/v1``)."""

    kind: str
    model: str
    endpoints: tuple[str, ...] = ()
    raw: str = ""
    text_only: bool = False  # openai-text: the server's model cannot take images

    @property
    def model_id(self) -> str:
        """The identity used in journal keys: the model, not where it is served.

        Moving a model to other hosts must not invalidate the journal, so endpoints are left out.
        """
        return f"{self.kind}:{self.model}"


#: ``scheme://user[:password]@host``: credentials written into a URL.
_USERINFO_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s,]*@")


def _refuse_credentials(spec: str, kind: str, rest: str) -> None:
    """A spec is stored in manifests, journals, done-markers and every sample's meta, and its model
    name is sent in every request: a password in it would be written everywhere. So a URL with
    ``user:password@`` is refused, and so is a second ``@`` in ``<model>@<url>`` (no served model
    name has one; ``m@user:pw@host`` does). The message never repeats the spec, which holds the
    secret, and says where a key goes instead."""
    model = rest.rpartition("@")[0] if not rest.startswith("//") else ""
    if _USERINFO_RE.search(spec) or "@" in model:
        raise SpecError(
            f"model spec {kind}:… (not repeated here): credentials in an endpoint URL (user:password@) "
            "are not accepted, since the spec is stored in manifests and journals and sent to the server; "
            "put the key in FINEREASON_API_KEY (or OPENAI_API_KEY) and give the URL without it"
        )


def _normalize_base_url(url: str, spec: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    if problem := url_problem(url):
        raise SpecError(f"model spec {spec!r}: endpoint {url!r}: {problem}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SpecError(f"model spec {spec!r}: endpoint {url!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 - validates the port number
    except ValueError as exc:
        raise SpecError(f"model spec {spec!r}: endpoint {url!r} has a bad port") from exc
    if parts.query or parts.fragment:
        raise SpecError(f"model spec {spec!r}: endpoint {url!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"  # the OpenAI convention; a bare host:port means its /v1 API
    return f"{parts.scheme}://{parts.netloc}{path}"


def _parse_openai(spec: str, rest: str) -> ModelSpec:
    _refuse_credentials(spec, spec.partition(":")[0], rest)
    if rest.startswith("//"):
        # openai://host:port/v1/<model>: the model may itself contain slashes (Org/Name).
        after = rest[2:]
        host, sep, path = after.partition("/")
        prefix, v1, model = path.partition("v1/")
        if not host or not sep or not v1 or not model or (prefix and not prefix.endswith("/")):
            raise SpecError(f"model spec {spec!r}: expected openai://host:port/v1/<model>")
        return ModelSpec("openai", model, (_normalize_base_url(f"http://{host}/{prefix}v1", spec),), spec)
    model, at, urls = rest.rpartition("@")
    if not at or not model or not urls:
        raise SpecError(f"model spec {spec!r}: expected openai:<model>@<base_url>[,<base_url>...]")
    endpoints = tuple(_normalize_base_url(u, spec) for u in urls.split(",") if u.strip())
    if not endpoints:
        raise SpecError(f"model spec {spec!r}: no endpoint URL after '@'")
    if len(set(endpoints)) != len(endpoints):
        raise SpecError(f"model spec {spec!r}: an endpoint is listed twice")
    return ModelSpec("openai", model, endpoints, spec)


def parse_spec(spec: str) -> ModelSpec:
    """Parse a spec string or raise :class:`SpecError` naming it and the expected form."""
    if not isinstance(spec, str) or ":" not in spec:
        raise SpecError(
            f"model spec {spec!r}: expected <kind>:<model>, kind one of openai, {', '.join(BACKEND_MODULES)}"
        )
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "openai":
        return _parse_openai(spec, rest.strip())
    if kind == "openai-text":
        return replace(_parse_openai(spec, rest.strip()), text_only=True)
    if kind not in BACKEND_MODULES:
        raise SpecError(
            f"model spec {spec!r}: unknown kind {kind!r}; expected one of openai, {', '.join(BACKEND_MODULES)}"
        )
    rest = rest.strip()
    if not rest:
        raise SpecError(f"model spec {spec!r}: nothing after '{kind}:'")
    if kind == "builtin" and rest not in BUILTIN_NAMES:
        raise SpecError(
            f"model spec {spec!r}: unknown builtin {rest!r}; expected one of {', '.join(BUILTIN_NAMES)}"
        )
    return ModelSpec(kind, rest, (), spec)
