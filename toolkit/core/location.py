"""Where the archive is: the one rule for `--archive`, $NEWSARCHIVE_ARCHIVE and ./archive.

It lives in core, with no storage code, so that a fast path (a search whose index is current) can
resolve the archive without importing pyarrow's filesystems or deltalake, and still agree with
`toolkit.archive` on every spelling (file://, s3a://, ~, relative paths).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from toolkit.core.errors import NewsarchiveError

DEFAULT_ROOT = "archive"
ROOT_ENV = "NEWSARCHIVE_ARCHIVE"


def resolve_root(uri: str | os.PathLike | None = None) -> str:
    """The archive root: the argument, else $NEWSARCHIVE_ARCHIVE, else ./archive (made absolute)."""
    text = os.fspath(uri) if uri is not None else os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    text = text.strip()
    if not text:
        raise NewsarchiveError("the archive location is empty; pass --archive DIR or s3://bucket/prefix")
    if text.startswith("file://"):
        text = urlparse(text).path
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in ("s3", "s3a"):
            raise NewsarchiveError(
                f"{text}: unsupported archive location; use a local folder or s3://bucket/prefix"
            )
        rest = text.split("://", 1)[1].strip("/")
        if not rest or rest.startswith("/"):
            raise NewsarchiveError(f"{text}: no bucket in the S3 URI; use s3://bucket/prefix")
        return "s3://" + rest
    path = Path(text).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise NewsarchiveError(f"{path}: not a folder; pass --archive a folder (new or an archive) or s3://bucket/prefix")
    return str(path)
