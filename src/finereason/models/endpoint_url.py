"""Reject endpoint URLs that cannot be an OpenAI-compatible API base, with a suggestion.

A mistyped URL used to surface as hours of silent retries (``http://127.0.0.1:/v1`` has an
empty port, so port 80 refused every request). These are the conventions an API base URL
follows, checked when the spec is parsed, before anything is sent:

- the scheme is ``http`` or ``https``;
- a port, if a colon is written, is a number; plain ``http`` names its port (OpenAI-compatible
  servers listen on 8000 (vLLM), 30000 (SGLang), 8080 (llama.cpp); write ``:80`` if you mean
  it), while ``https`` may leave it out (443, as hosted APIs do);
- the path is the API base: it has a version segment (``/v1``, ``/api/v1``, ``/v1beta/openai``),
  not an operation (``/chat/completions``, ``/models``) after it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_VERSION_SEGMENT = re.compile(r"^v\d+[a-z0-9]*$")
_OPERATIONS = ("/chat/completions", "/completions", "/models", "/embeddings")
_AUTHORITY = re.compile(r"^(?P<scheme>[^:/]*)://(?P<netloc>[^/?#]*)")


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an API base URL, with a suggested fix; None if it is fine.

    ``url`` is as written, with a scheme (a bare ``host:port`` gets ``http://`` before this).
    An empty path is fine: it means the server's ``/v1``.
    """
    head = _AUTHORITY.match(url)
    scheme = head.group("scheme").lower() if head else ""
    if scheme not in ("http", "https"):
        rest = url.split("://", 1)[-1]
        return f"scheme {scheme or '(none)'!r} is not http or https; did you mean http://{rest}?"
    netloc = head.group("netloc").rpartition("@")[2] if head else ""
    host, colon, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not colon:
        host, port = netloc, ""
    if colon and not port:
        return f"the port after {host}: is empty; did you mean {scheme}://{host}:8000{_path(url)}?"
    if not colon and scheme == "http":
        return (
            f"no port: plain http means port 80, rarely what a model server listens on; did you mean "
            f"http://{host}:8000{_path(url)} (vLLM; SGLang uses 30000, llama.cpp 8080)? write :80 if you mean it"
        )
    path = urlsplit(url).path.rstrip("/")
    for operation in _OPERATIONS:
        if path.endswith(operation):
            base = path[: -len(operation)]
            return f"path {path!r} names an operation, not the API base; did you mean {scheme}://{netloc}{base}?"
    if path and not any(_VERSION_SEGMENT.match(seg) for seg in path.split("/")):
        return f"path {path!r} has no API version segment; did you mean {scheme}://{netloc}{path}/v1?"
    return None


def _path(url: str) -> str:
    return urlsplit(url).path.rstrip("/") or "/v1"
