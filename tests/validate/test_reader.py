"""Blocks of whole lines, whatever the block size: nothing lost, nothing doubled, trailing blanks dropped."""

from __future__ import annotations

import random

import pytest

from toolkit.core.jsonl import InputFile, plain_ranges, read_blocks


def expected(data: bytes) -> bytes:
    end = len(data.rstrip(b" \t\r\n"))
    if end == 0:
        return b""
    nl = data.find(b"\n", end)
    return data[: nl + 1] if nl >= 0 else data + b"\n"


@pytest.mark.parametrize("seed", range(5))
def test_blocks_rejoin_to_the_input(tmp_path, seed):
    rnd = random.Random(seed)
    path = tmp_path / "b.jsonl"
    for _ in range(40):
        lines = [("x" * rnd.randint(0, 3) + rnd.choice(["", " ", "\r"])).encode() for _ in range(rnd.randint(0, 40))]
        tail = rnd.choice([b"", b"\n", b"\n\n", b"  \n", b"\r\n \n"])
        data = rnd.choice([b"", b"\xef\xbb\xbf"]) + b"\n".join(lines) + rnd.choice([b"", b"\n"]) + tail
        path.write_bytes(data)
        want = expected(data.removeprefix(b"\xef\xbb\xbf"))
        for block_bytes in (1, 2, 7, 64, 1 << 20):
            blocks = list(read_blocks(InputFile(str(path), path), block_bytes=block_bytes))
            assert b"".join(b.data for b in blocks) == want
            assert all(b.data.endswith(b"\n") for b in blocks)
            # The byte ranges worker processes read themselves cut exactly the same bytes.
            ranges = list(plain_ranges(InputFile(str(path), path), block_bytes=block_bytes) or [])
            loaded = [r.load() for r in ranges]
            assert b"".join(b.data for b in loaded) == want
            assert all(b.data.endswith(b"\n") for b in loaded)
            assert [r.last for r in ranges] == [False] * (len(ranges) - 1) + [True] * bool(ranges)


def test_compressed_input_and_stdin_are_read_as_streams(tmp_path):
    import gzip

    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n'))
    assert plain_ranges(InputFile(str(path), path)) is None
    assert plain_ranges(InputFile("-", None)) is None
