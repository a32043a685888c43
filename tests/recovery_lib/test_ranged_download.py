"""``ranged_download``: every byte lands where it belongs, a broken body stream resumes from
the byte where it stopped, and a persistent failure stops the download with the error.

The client is a fake that answers ``get_object`` through a handler (bytes of a known
object, with a fault plan), returning botocore ``StreamingBody`` objects like boto3.
"""
from __future__ import annotations

import io
import re
from typing import Any

import botocore.exceptions
import pytest
from botocore.response import StreamingBody

from recovery_lib.backends.ranged_download import CHUNK, ranged_download

DATA = bytes(range(256)) * (3 * CHUNK // 256 + 77)  # 3 chunks and a bit


class _Breaking(io.RawIOBase):
    """A body that raises after ``limit`` bytes, as a reset connection does."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data, self._pos, self._limit = data, 0, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._limit:
            raise botocore.exceptions.ResponseStreamingError(error="connection reset")
        n = min(len(buffer), len(self._data) - self._pos, self._limit - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


class FakeClient:
    def __init__(self, data: bytes, *, break_after: int | None = None, breaks: int = 0) -> None:
        self.data, self.break_after, self.breaks = data, break_after, breaks
        self.ranges: list[tuple[int, int]] = []

    def get_object(self, *, Bucket: str, Key: str, IfMatch: str, Range: str) -> dict[str, Any]:
        assert IfMatch == '"etag"'
        start, end = map(int, re.fullmatch(r"bytes=(\d+)-(\d+)", Range).groups())
        self.ranges.append((start, end))
        body = self.data[start:end + 1]
        if self.breaks and self.break_after is not None:
            self.breaks -= 1
            raw: Any = _Breaking(body, self.break_after)
        else:
            raw = io.BytesIO(body)
        return {"Body": StreamingBody(raw, len(body))}


def test_every_part_lands_at_its_offset():
    client, sink = FakeClient(DATA), io.BytesIO()
    ranged_download(client, "b", "k", sink, size=len(DATA), etag='"etag"', part_size=CHUNK + 5,
                    workers=3)
    assert sink.getvalue() == DATA
    assert sorted(client.ranges)[0] == (0, CHUNK + 4) and len(client.ranges) == 4


def test_a_broken_stream_resumes_where_it_stopped():
    client, sink = FakeClient(DATA, break_after=1000, breaks=2), io.BytesIO()
    ranged_download(client, "b", "k", sink, size=len(DATA), etag='"etag"', part_size=len(DATA),
                    workers=1)
    assert sink.getvalue() == DATA
    assert client.ranges[:3] == [(0, len(DATA) - 1), (1000, len(DATA) - 1),
                                 (2000, len(DATA) - 1)]


def test_a_stream_that_keeps_breaking_raises():
    client = FakeClient(DATA, break_after=10, breaks=100)
    with pytest.raises(botocore.exceptions.ResponseStreamingError):
        ranged_download(client, "b", "k", io.BytesIO(), size=len(DATA), etag='"etag"',
                        part_size=CHUNK, workers=2)
