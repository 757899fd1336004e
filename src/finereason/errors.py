"""The one base class for mistakes a user can fix (bad path, key, spec, prompt, settings).

The CLI prints these as one ``finereason: error: …`` line instead of a traceback; anything
else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """An error whose message alone tells the user what to fix."""
