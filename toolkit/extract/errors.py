"""The one exception a page parser raises to reject a page; its message is the reject reason."""

from __future__ import annotations


class PageRejected(Exception):
    """This page cannot become a record; `str(exc)` says why and, where it can, where and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
