"""The one base class for mistakes a user can fix (bad path, key, spec, prompt, settings).

The CLI prints these as one ``finereason: error: …`` line instead of a traceback; anything
else is a bug and keeps its traceback.
"""

import errno


class UserError(ValueError):
    """An error whose message alone tells the user what to fix."""


class EngineError(UserError, RuntimeError):
    """An engine cannot run here (cluster unreachable, a node without the package); one line, with the fix."""


def disk_full(exc: BaseException, where: str | None = None) -> str | None:
    """One line for a full disk or quota (``ENOSPC``/``EDQUOT``, also as pyarrow words it), naming
    the path being written (the exception's, else ``where``); ``None`` for any other error."""
    if not isinstance(exc, OSError):
        return None
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and "No space left on device" not in str(exc):
        return None
    path = exc.filename or where or "the output folder"
    return (f"no space left on device writing {path}; free space (or give another --out) and rerun "
            "the same command to resume")


def first_error(errors: BaseExceptionGroup) -> BaseException:
    """The one error to report from a group of concurrent failures (the first raised, unwrapped).

    A TaskGroup wraps what its tasks raise; a person should see "no endpoint can serve", not
    a tree of the same error from every task it cancelled.
    """
    first = errors.exceptions[0]
    return first_error(first) if isinstance(first, BaseExceptionGroup) else first
