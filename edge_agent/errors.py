"""Errors a user can act on: each carries one line of text and an exit code.

The CLI prints `edge-agent: <message>` and exits with `exit_code`; it never
shows a traceback for these.
"""

from __future__ import annotations

# Exit codes, as documented in the README.
EXIT_OK = 0
EXIT_FAILURE = 1  # a runtime fault the agent could not recover from
EXIT_USAGE = 2  # bad input: config, arguments, files


class AgentError(Exception):
    """A one-line, user-facing error."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(AgentError):
    """Bad input: a missing or malformed file, key or argument."""

    exit_code = EXIT_USAGE
