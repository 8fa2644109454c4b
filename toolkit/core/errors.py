"""One exception type for every failure a user can cause, so the CLI can print one line and exit 2."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_FINDINGS = 1  # the run happened and found invalid records / rejected inputs
EXIT_USAGE = 2  # the run itself could not happen
EXIT_INTERRUPTED = 130  # SIGINT or SIGTERM: the run stopped, leaving nothing half-committed


class NewsarchiveError(Exception):
    """A user-facing failure: the message says what is wrong, where, and what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def note(message: str) -> None:
    """A remark on stderr that does not stop the run, with the CLI's prefix so it reads as ours."""
    print(f"newsarchive: note: {message}", file=sys.stderr)


#: Refusals by the environment, not bugs: what each means for the user, and what to do.
_ENVIRONMENT = {
    28: ("no space left on the device", "free some space, or write elsewhere, and run again"),  # ENOSPC
    122: ("disk quota exceeded", "free some space, or write elsewhere, and run again"),  # EDQUOT
    30: ("read-only file system", "write somewhere writable, or remount it read-write"),  # EROFS
    13: ("permission denied", "check the permissions, or write elsewhere"),  # EACCES
    1: ("operation not permitted", "check the permissions, or write elsewhere"),  # EPERM
}
_ENVIRONMENT_TEXTS = {"no space left on device": 28, "disk quota exceeded": 122, "read-only file system": 30,
                      "permission denied": 13}


def environment_error(exc: BaseException, where: str | None = None) -> NewsarchiveError | None:
    """The exception as a one-line error when the environment refused a write or a read (a full
    disk, a read-only file system, permissions), else None.

    Why: these come from many layers (Python's OSError, pyarrow's, DuckDB's IOException, delta-rs)
    and from worker processes; each is the user's to fix, none is a bug to report.
    """
    import re

    text = " ".join(str(exc).split())
    code = exc.errno if isinstance(exc, OSError) and exc.errno in _ENVIRONMENT else None
    if code is None:
        lowered = text.lower()
        code = next((c for phrase, c in _ENVIRONMENT_TEXTS.items() if phrase in lowered), None)
    if code is None:
        return None
    reason, advice = _ENVIRONMENT[code]
    path = where or (exc.filename if isinstance(exc, OSError) and exc.filename else None)
    if path is None:
        match = re.search(r"""['"](/[^'"]+)['"]""", text)
        path = match.group(1) if match else None
    return NewsarchiveError(f"{path + ': ' if path else ''}{reason}; {advice}")
