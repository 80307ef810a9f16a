"""Record and replay: subjects from NATS to compressed JSON lines, and back with their timing."""

from __future__ import annotations

from services.replay.adapter import ReplayAdapter, parse_speed
from services.replay.recorder import DEFAULT_SUBJECTS, record
from services.replay.recording import Record, RecordingError, RecordingWriter, read_recording

__all__ = [
    "DEFAULT_SUBJECTS",
    "Record",
    "RecordingError",
    "RecordingWriter",
    "ReplayAdapter",
    "parse_speed",
    "read_recording",
    "record",
]
