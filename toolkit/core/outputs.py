"""Never write over what is not ours: the checks every command runs on the files it is told to write.

Three rules, each a one-line error (exit 2) before anything is read or written:

- an output is never one of the run's inputs (compared as files: relative paths, `..`, symbolic
  and hard links all name the same file), nor inside an input folder that is read whole;
- an output is never inside an archive's tables (`articles/`, `batches/`, `quarantine/`), where a
  stray file can be taken for a commit of the Delta log or a data file;
- a file that already exists is replaced only if it is of the kind the command writes (a catalog
  only over a newsarchive catalog; see each command), and always by rename, so a failed run leaves
  the old file whole.

    >>> refuse_input("page.txt", ["page.txt"], "--output")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    toolkit.core.errors.NewsarchiveError: --output page.txt is also an input (page.txt); write the output to ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from toolkit.core.errors import NewsarchiveError, environment_error

#: The folders of an archive that only the archive stage writes.
ARCHIVE_TABLES = ("articles", "batches", "quarantine")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: the same inode if both exist, else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether `path` is `folder` or lies under it (symbolic links resolved)."""
    inner = Path(path).expanduser().resolve()
    outer = Path(folder).expanduser().resolve()
    return inner == outer or outer in inner.parents


def refuse_input(output: str | os.PathLike | None, inputs: Iterable[str | os.PathLike], option: str,
                 what: str = "an input", reads: Callable[[str], bool] | None = None) -> None:
    """Refuse an output that is one of `inputs`, or that a folder among them would read; `-` is standard output.

    `reads(path)` tells whether the command reads a file at `path` found in an input folder (by its
    name: `.jsonl` for validate, page names for extract); without it, any file there is read.
    """
    if output is None or os.fspath(output) == "-":
        return
    names = [os.fspath(item) for item in inputs]
    names = [name for name in names if name != "-" and "://" not in name]
    for name in names:
        if not os.path.isdir(name) and same_file(output, name):
            raise NewsarchiveError(f"{option} {os.fspath(output)} is also {what} ({name}); "
                                   "write the output to another file")
    for name in names:
        if os.path.isdir(name) and is_inside(output, name) and (reads is None or reads(os.fspath(output))):
            raise NewsarchiveError(f"{option} {os.fspath(output)} is inside the input folder {name}, which is "
                                   "read whole; write the output outside it (or give it a name that is not read)")


def refuse_inside_archive(output: str | os.PathLike | None, root: str | os.PathLike | None, option: str) -> None:
    """Refuse an output inside an archive's tables, or that is the archive root itself (local archives)."""
    if output is None or root is None or os.fspath(output) == "-":
        return
    root_text = os.fspath(root)
    if "://" in root_text or "://" in os.fspath(output):
        return
    if same_file(output, root_text):
        raise NewsarchiveError(f"{option} {os.fspath(output)} is the archive itself; write the output elsewhere")
    for table in ARCHIVE_TABLES:
        if is_inside(output, Path(root_text) / table):
            raise NewsarchiveError(f"{option} {os.fspath(output)} is inside the archive's {table}/ table, which "
                                   "only `newsarchive append` and `compact` write; write the output elsewhere")


def temporary_name(path: str | os.PathLike, kind: str = "tmp") -> Path:
    """A fresh hidden name next to `path` (same folder, so the rename is one step on one file system)."""
    final = Path(path)
    return final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.{kind}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, what: str, *, make_parent: bool = True,
                rename: Callable[[], contextlib.AbstractContextManager[object]] | None = None) -> Iterator[Path]:
    """The one write-to-temp-then-rename: yields a temporary path next to `path` to write; when the
    block ends normally it is renamed over `path`; otherwise it is removed and the old file stays whole.

    Every file newsarchive produces goes through here (or `AtomicFile`, which uses it). An OSError
    becomes one line naming the file (`what`: "report", "catalog"...); `rename` wraps the rename
    (e.g. `interrupts.held`, so a signal cannot land between writing and renaming).
    """
    final = Path(path)
    if final.is_dir():
        raise NewsarchiveError(f"{os.fspath(path)}: is a folder; give the {what} a file name")
    try:
        if make_parent:
            final.parent.mkdir(parents=True, exist_ok=True)  # reports/junit.xml in a fresh checkout
        elif not final.resolve().parent.is_dir():
            raise NewsarchiveError(f"{os.fspath(path)}: its folder does not exist; create it first")
    except OSError as exc:
        raise _write_error(path, what, exc) from None
    temporary = temporary_name(final)
    try:
        yield temporary
        with rename() if rename is not None else contextlib.nullcontext():
            os.replace(temporary, final)
    except OSError as exc:
        raise _write_error(path, what, exc) from None
    finally:
        temporary.unlink(missing_ok=True)


def install_folder(build: str | os.PathLike, target: str | os.PathLike) -> None:
    """Swap a finished folder into place: the old one (if any) is renamed aside, the new one renamed
    in, then the old one removed. Readers see the old folder or the new one, never a mix."""
    build, target = Path(build), Path(target)
    old = None
    if target.exists():
        old = temporary_name(target, "old")
        os.replace(target, old)
    os.replace(build, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_error(path: str | os.PathLike, what: str, exc: OSError) -> NewsarchiveError:
    refused = environment_error(exc, os.fspath(path))
    if refused is not None:
        return NewsarchiveError(f"cannot write the {what}: {refused}")
    return NewsarchiveError(f"{os.fspath(path)}: cannot write the {what} ({exc.strerror or exc})")


class AtomicFile:
    """A text file written under a temporary name next to `path` and renamed over it by `commit`:
    `atomic_path` for writers that keep a handle open (a report, a quarantine file, extract's output).

    Until `commit`, the old file (if any) is untouched; `discard` (or an exception in a `with`)
    removes the temporary file, so a failed run never leaves a half-written or truncated output.
    """

    def __init__(self, path: str | os.PathLike, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.committed = False
        self._atomic = atomic_path(path, what)
        self.temporary = self._atomic.__enter__()  # checks the path, makes its folder
        try:
            self.handle = open(self.temporary, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            self._atomic.gen.close()  # removes the temporary name
            raise _write_error(path, what, exc) from None

    def write(self, text: str) -> int:
        return self.handle.write(text)

    def flush(self) -> None:
        self.handle.flush()

    def commit(self) -> None:
        """Rename the finished file over `path` (one step: readers see the old file or the new one)."""
        if self.committed:
            return
        self.committed = True
        try:
            self.handle.close()
        except OSError as exc:
            self._atomic.gen.close()
            raise _write_error(self.path, self.what, exc) from None
        self._atomic.__exit__(None, None, None)  # the rename; on failure the temporary goes, one line is raised

    def discard(self) -> None:
        """Drop the temporary file, unless it was committed (then there is nothing left to remove)."""
        self.handle.close()
        if not self.committed:
            self.committed = True
            self._atomic.gen.close()  # GeneratorExit at the yield: no rename, the temporary is removed

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, traceback: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()
