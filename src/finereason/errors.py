"""The one base class for mistakes a user can fix (bad path, key, spec, prompt, settings).

The CLI prints these as one ``finereason: error: …`` line instead of a traceback; anything
else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """An error whose message alone tells the user what to fix."""


class EngineError(UserError, RuntimeError):
    """An engine cannot run here (cluster unreachable, a node without the package); one line, with the fix."""
