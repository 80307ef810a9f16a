"""The recording format: JSON lines, compressed by the file name (``.gz``, ``.zst``).

The first line is a header; every other line is one message as the broker stored it::

    {"format": "mdbridge-recording", "version": 1, "started_ns": 1763621940000000000,
     "subjects": ["md.quote.>", ...], "created": "2026-11-20T14:59:00.000+08:00"}
    {"t": 1763621941123456000, "subject": "md.quote.600000.SH",
     "headers": {"Nats-Msg-Id": "quote:600000.SH:1763621941120"}, "data": "{...}"}

``t`` is the broker's timestamp (ns since the epoch) and ``data`` the payload as text, byte
for byte (``b64`` instead for a payload that is not UTF-8). Entries with ``t`` before
``started_ns`` are the state found at the start (the symbol directory).
"""

from __future__ import annotations

import base64
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson
import zstandard

FORMAT = "mdbridge-recording"
VERSION = 1


class RecordingError(ValueError):
    """Not a recording, or a damaged one."""


@dataclass(frozen=True, slots=True)
class Record:
    t_ns: int
    subject: str
    headers: dict[str, str] | None
    data: bytes


@contextmanager
def _open(path: Path, mode: str) -> Iterator[BinaryIO]:
    """The file, compressed by its name: ``.zst`` zstandard, ``.gz`` gzip, else plain."""
    if path.name.endswith(".zst"):
        with open(path, mode) as raw:
            if mode == "wb":
                with zstandard.ZstdCompressor(level=10).stream_writer(raw) as writer:
                    yield cast(BinaryIO, writer)
            else:
                with zstandard.ZstdDecompressor().stream_reader(raw) as reader:
                    yield cast(BinaryIO, io.BufferedReader(cast(io.RawIOBase, reader)))
    elif path.name.endswith(".gz"):
        with gzip.GzipFile(path, mode) as gz:
            yield cast(BinaryIO, gz)
    else:
        with open(path, mode) as plain:
            yield cast(BinaryIO, plain)


class RecordingWriter:
    """Appends records to a new recording; use as a context manager."""

    def __init__(self, path: Path, subjects: list[str], started_ns: int, created: str) -> None:
        self.path = path
        self.count = 0
        self._cm = _open(path, "wb")
        self._fh = self._cm.__enter__()
        header = {
            "format": FORMAT,
            "version": VERSION,
            "started_ns": started_ns,
            "subjects": subjects,
            "created": created,
        }
        self._fh.write(orjson.dumps(header) + b"\n")

    def write(self, record: Record) -> None:
        line: dict[str, Any] = {"t": record.t_ns, "subject": record.subject}
        if record.headers:
            line["headers"] = record.headers
        try:
            line["data"] = record.data.decode()
        except UnicodeDecodeError:
            line["b64"] = base64.b64encode(record.data).decode()
        self._fh.write(orjson.dumps(line) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._cm.__exit__(None, None, None)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _record(line: bytes, number: int) -> Record:
    try:
        item = orjson.loads(line)
        data = (
            item["data"].encode()
            if "data" in item
            else base64.b64decode(item["b64"], validate=True)
        )
        headers = item.get("headers")
        return Record(
            int(item["t"]), str(item["subject"]), dict(headers) if headers else None, data
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"line {number}: not a recorded message ({exc})") from None


@contextmanager
def read_recording(path: Path) -> Iterator[tuple[dict[str, Any], Iterator[Record]]]:
    """(header, records) of a recording, streamed from the (compressed) file."""
    with _open(path, "rb") as lines:
        try:
            header = orjson.loads(lines.readline())
        except orjson.JSONDecodeError:
            raise RecordingError(f"{path}: not an mdbridge recording") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise RecordingError(f"{path}: not an mdbridge recording")
        if header.get("version") != VERSION:
            raise RecordingError(f"{path}: recording version {header.get('version')} unknown")
        records = (_record(line, n) for n, line in enumerate(lines, start=2) if line.strip())
        yield header, records
