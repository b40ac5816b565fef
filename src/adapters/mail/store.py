"""A content-addressed folder: files named by the sha256 of their bytes.

Attachments and quarantined raw messages live here, outside the events (which
carry only the hash): the event log stays small, a file stored twice is stored
once, and a file can be purged (retention, GDPR) without touching history.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class AlteredContentError(Exception):
    """A stored file no longer has the hash it is named by (edited on disk)."""


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            msg = "Empreinte sha256 invalide."
            raise ValueError(msg)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store the bytes (once); return their sha256."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_of(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, two writers race safely.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, sha256: str) -> bytes:
        """The file's bytes, checked against its name: what was stored, or an error."""
        data = self.path_of(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise AlteredContentError(sha256)
        return data

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).exists()
