"""One exception type for every failure a user can cause, so the CLI can print one line and exit 2."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FINDINGS = 1  # the run happened and found invalid records / rejected inputs
EXIT_USAGE = 2  # the run itself could not happen


class NewsarchiveError(Exception):
    """A user-facing failure: the message says what is wrong, where, and what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def note(message: str) -> None:
    """A remark on stderr that does not stop the run, with the CLI's prefix so it reads as ours."""
    print(f"newsarchive: note: {message}", file=sys.stderr)
