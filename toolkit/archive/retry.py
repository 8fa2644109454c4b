"""Retrying commits that lost a race: exponential backoff with jitter, bounded in time."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from toolkit.core.errors import NewsarchiveError

BASE_SECONDS = 0.05
CAP_SECONDS = 2.0
GIVE_UP_SECONDS = 600.0


def attempts(what: str, give_up_after: float = GIVE_UP_SECONDS) -> Iterator[int]:
    """Yield attempt numbers, sleeping before each retry; fail with a clear error when time runs out.

    Jitter spreads writers that collided, so they do not collide again on the next attempt.
    """
    deadline = time.monotonic() + give_up_after
    attempt = 0
    while True:
        yield attempt
        attempt += 1
        delay = random.uniform(0, min(CAP_SECONDS, BASE_SECONDS * 2 ** attempt))
        if time.monotonic() + delay > deadline:
            raise NewsarchiveError(
                f"{what}: gave up after {attempt} attempts in {give_up_after:.0f} s, other writers kept "
                "committing first; run the command again (it resumes where this run stopped)"
            )
        time.sleep(delay)
