"""Files written by templates: safe relative paths under a root, through Django storage.

Exports, reports and backups are written with Django's storage API, so a
project can point them at S3 (django-storages) by changing the storage. Files
are first written to a local temporary file (streamed, constant memory, hashed
on the way) and then handed to the storage.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage
from django.utils import timezone
from django.utils.text import slugify

FOLDERS = {
    "exports": "SCHEDULER_EXPORT_ROOT",
    "reports": "SCHEDULER_REPORT_ROOT",
    "backups": "SCHEDULER_BACKUP_ROOT",
}
PLACEHOLDERS = ("date", "time", "datetime", "timestamp", "job", "collection", "ext")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SAFE_SEGMENT = re.compile(r"^[\w .@+=,-]+$")
MAX_PATH_CHARS = 255
COPY_CHUNK = 64 * 1024


class UnsafePath(ValueError):
    """A path that could leave its root folder."""


def folder_storage(folder: str, **options: Any) -> Storage:
    """The storage for one of the template folders (exports, reports, backups).

    Read from settings at call time, so tests (and override_settings) can move
    the roots.
    """
    from django.conf import settings

    return FileSystemStorage(location=getattr(settings, FOLDERS[folder]), **options)


def check_relative_path(path: Any) -> str:
    """A clean relative path, or UnsafePath saying why it is refused.

    Absolute paths, drive letters, backslashes, "..", ".", empty segments, NUL
    and control characters are refused; segments use a conservative alphabet.
    """
    if not isinstance(path, str) or not path.strip():
        raise UnsafePath("Give a relative path such as tickets/{date}.csv.")
    if "\x00" in path:
        raise UnsafePath("The path contains a NUL character.")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise UnsafePath("The path contains control characters.")
    if len(path) > MAX_PATH_CHARS:
        raise UnsafePath(f"The path is longer than {MAX_PATH_CHARS} characters.")
    if "\\" in path:
        raise UnsafePath("Use / between folders, not backslashes.")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path) or path.startswith("~"):
        raise UnsafePath(
            "Absolute paths are not allowed; give a path relative to the root."
        )
    segments = path.split("/")
    for segment in segments:
        if segment in ("..", "."):
            raise UnsafePath("'..' and '.' are not allowed in paths.")
        if not segment:
            raise UnsafePath("Empty folder names (//) are not allowed.")
        if segment.startswith("."):
            raise UnsafePath("Hidden names (starting with '.') are not allowed.")
        if not _SAFE_SEGMENT.match(segment):
            raise UnsafePath(
                f"{segment!r}: use letters, digits, spaces and . _ - @ + = , only."
            )
    return path


def check_template_path(path: Any, *, extra: tuple[str, ...] = ()) -> str:
    """Check a destination template: known placeholders, then a safe path."""
    if not isinstance(path, str):
        raise UnsafePath("Give a relative path such as tickets/{date}.csv.")
    allowed = (*PLACEHOLDERS, *extra)
    for name in _PLACEHOLDER.findall(path):
        if name not in allowed:
            raise UnsafePath(
                f"Unknown placeholder {{{name}}}; use "
                + ", ".join(f"{{{p}}}" for p in allowed)
                + "."
            )
    sample = render_path(path, values=dict.fromkeys(allowed, "x"))
    if "{" in sample or "}" in sample:
        raise UnsafePath("Unbalanced { or } in the path.")
    check_relative_path(sample)
    return path


def render_path(
    path: str, *, values: dict[str, str] | None = None, now: datetime | None = None
) -> str:
    """Fill {date}, {time}, {datetime}, {timestamp} and the given values.

    A plain regex substitution, not str.format, so "{date.__class__}" cannot reach
    attributes.
    """
    now = now or timezone.now()
    filled = {
        "date": now.strftime("%Y-%m-%d"),
        "time": now.strftime("%H%M%S"),
        "datetime": now.strftime("%Y%m%dT%H%M%SZ"),
        "timestamp": str(int(now.timestamp())),
    }
    for key, value in (values or {}).items():
        filled[key] = slugify(value).replace("-", "_") if key == "job" else str(value)

    def replace(match: re.Match[str]) -> str:
        return filled.get(match[1], match[0])

    return _PLACEHOLDER.sub(replace, path)


def check_inside_root(storage: Storage, name: str) -> None:
    """Refuse a name whose real path (symlinks resolved) leaves the storage root.

    Only meaningful for local storage; remote storages have no symlinks.
    """
    check_relative_path(name)
    if not isinstance(storage, FileSystemStorage):
        return
    root = os.path.realpath(storage.location)
    target = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([root, target]) != root or target == root:
        raise UnsafePath(f"{name!r} leads outside the folder (through a symlink).")


@dataclass
class WrittenFile:
    name: str
    bytes: int
    sha256: str


class HashingWriter:
    """A binary file wrapper that counts and hashes what goes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        self.bytes += len(data)
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


@contextmanager
def spooled_output() -> Iterator[tuple[IO[bytes], HashingWriter]]:
    """A local temporary file and a hashing writer on it, removed afterwards."""
    with tempfile.TemporaryFile(prefix="scheduler-") as tmp:
        yield tmp, HashingWriter(tmp)


def save_to_storage(
    storage: Storage, name: str, tmp: IO[bytes], writer: HashingWriter
) -> WrittenFile:
    """Hand the finished temporary file to the storage; return where it landed.

    Storage never overwrites: if the name exists it picks a free one, and the
    result says which.
    """
    check_inside_root(storage, name)
    tmp.flush()
    tmp.seek(0)
    saved = storage.save(name, File(tmp, name=os.path.basename(name)))
    check_inside_root(storage, saved)
    return WrittenFile(name=saved, bytes=writer.bytes, sha256=writer.digest.hexdigest())


def sha256_of(storage: Storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(COPY_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validation_error(key: str, exc: Exception) -> ValidationError:
    return ValidationError({key: [str(exc)]})
