"""The one base class for mistakes a user can fix (bad path, key, spec, prompt, settings).

The CLI prints these as one ``finereason: error: …`` line instead of a traceback; anything
else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """An error whose message alone tells the user what to fix."""


def first_error(errors: BaseExceptionGroup) -> BaseException:
    """The one error to report from a group of concurrent failures (the first raised, unwrapped).

    A TaskGroup wraps what its tasks raise; a person should see "no endpoint can serve", not
    a tree of the same error from every task it cancelled.
    """
    first = errors.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first
