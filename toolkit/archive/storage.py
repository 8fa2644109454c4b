"""Where an archive lives: a local folder or an `s3://bucket/prefix` URI, and how to reach it.

One `Storage` gives the same location to both libraries that touch it: delta-rs (storage options, for
the transaction log) and pyarrow (a native filesystem, for Parquet data files). Native pyarrow
filesystems are used on purpose: reading through delta-rs's Python filesystem handler on pyarrow's
thread pool can abort the interpreter at exit.

S3 settings come from the usual AWS environment variables. Commits to S3 use conditional puts
(`If-None-Match: *`), which AWS S3, SeaweedFS, MinIO and R2 enforce atomically, so two writers can
never both create the same log version. The unsafe-rename mode is refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlparse

import pyarrow.fs as pafs

from toolkit.core.errors import NewsarchiveError
from toolkit.core.location import resolve_root

DEFAULT_REGION = "us-east-1"
_TRUTHY = {"1", "true", "yes", "on"}




def s3_options_from_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """delta-rs storage options for S3 from the AWS environment variables, with safe commits."""
    env = dict(os.environ if environ is None else environ)
    unsafe = env.get("AWS_S3_ALLOW_UNSAFE_RENAME", "").strip().lower()
    if unsafe in _TRUTHY:
        raise NewsarchiveError(
            "AWS_S3_ALLOW_UNSAFE_RENAME is set: newsarchive commits to S3 with conditional puts and "
            "refuses unsafe renames, which can lose concurrent commits; unset it"
        )
    options: dict[str, str] = {}
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if env.get(key):
            options[key] = env[key]
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if endpoint:
        options["AWS_ENDPOINT_URL"] = endpoint
        region = region or DEFAULT_REGION  # S3-compatible servers ignore it, but signing needs one
        if endpoint.lower().startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if region:
        options["AWS_REGION"] = region
    # Commit log entries with PUT If-None-Match: * (atomic create), never copy-then-rename.
    options["aws_conditional_put"] = "etag"
    return options


@dataclass(frozen=True)
class Storage:
    """An archive root plus the options and filesystem needed to read and write under it."""

    root: str
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def at(cls, uri: str | os.PathLike | None = None) -> Storage:
        root = resolve_root(uri)
        return cls(root, s3_options_from_env() if root.startswith("s3://") else {})

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, *parts: str) -> str:
        """URI (or absolute local path) of a location under the root."""
        if not parts:
            return self.root
        if self.is_s3:
            return "/".join([self.root.rstrip("/"), *parts])
        return os.path.join(self.root, *parts)

    def fs_path(self, *parts: str) -> str:
        """Path of a location under the root, as `filesystem` spells it (no scheme)."""
        uri = self.uri(*parts)
        return uri[len("s3://"):] if self.is_s3 else uri

    @cached_property
    def filesystem(self) -> pafs.FileSystem:
        """A native pyarrow filesystem for the root (local, or S3 configured like delta-rs)."""
        if not self.is_s3:
            return pafs.LocalFileSystem()
        opts = self.options
        kwargs: dict[str, object] = {}
        if "AWS_ACCESS_KEY_ID" in opts:
            kwargs["access_key"] = opts["AWS_ACCESS_KEY_ID"]
            kwargs["secret_key"] = opts.get("AWS_SECRET_ACCESS_KEY", "")
            if "AWS_SESSION_TOKEN" in opts:
                kwargs["session_token"] = opts["AWS_SESSION_TOKEN"]
        if "AWS_REGION" in opts:
            kwargs["region"] = opts["AWS_REGION"]
        endpoint = opts.get("AWS_ENDPOINT_URL")
        if endpoint:
            parsed = urlparse(endpoint)
            kwargs["endpoint_override"] = parsed.netloc + parsed.path.rstrip("/")
            kwargs["scheme"] = parsed.scheme or "https"
        return pafs.S3FileSystem(**kwargs)

    def subtree(self, *parts: str) -> pafs.FileSystem:
        """A filesystem rooted at a location under the root (what delta-rs datasets expect)."""
        return pafs.SubTreeFileSystem(self.fs_path(*parts), self.filesystem)

    def exists(self, *parts: str) -> bool:
        info = self.filesystem.get_file_info(self.fs_path(*parts))
        return info.type != pafs.FileType.NotFound

    def error(self, table: str, what: str, exc: BaseException) -> NewsarchiveError:
        """A one-line error for a storage failure under `table`, with a hint for S3 credentials."""
        text = without_backtrace(" ".join(str(exc).split()))
        if len(text) > 300:
            text = text[:300] + "..."
        if self.is_s3 and any(w in text for w in ("403", "Forbidden", "credential", "Signature")):
            text += "; check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL"
        elif self.is_s3 and any(w in text for w in ("sending request", "connect", "dns", "timed out")):
            text += "; check AWS_ENDPOINT_URL and that the server answers"
        elif self.is_s3 and "NoSuchBucket" in text:
            text += "; create the bucket first"
        return NewsarchiveError(f"{self.uri(table)}: {what} ({text})")


_BACKTRACE = re.compile(r"\s*(?:Stack backtrace:|\b0: (?:<unknown>|\S+::|\S+ at ))")


def without_backtrace(text: str) -> str:
    """The message without the Rust backtrace delta-rs appends when RUST_BACKTRACE is set: frame
    lists ("0: <unknown> 1: ...") are for its developers, and would make a one-line error fifty."""
    match = _BACKTRACE.search(text)
    return text[: match.start()].rstrip() if match else text
