"""Pushing a SavedModel into TF Serving's layout (`<root>/<version>/`), without TFX.

- Atomic: the model is copied into a hidden folder beside the versions, then renamed
  into place, so a reader (TF Serving polls the folder) never sees half a version.
- Idempotent: a model whose content equals the newest version's is not pushed again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import uuid
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushed: bool
    version: int
    path: Path
    fingerprint: str
    reason: str


def fingerprint(model_dir: Path) -> str:
    """SHA-256 over the relative paths and contents of every file under `model_dir`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(path.relative_to(model_dir).as_posix().encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def versions(serving_root: Path) -> list[int]:
    """The version numbers present under `serving_root`, oldest first."""
    if not serving_root.is_dir():
        return []
    return sorted(int(p.name) for p in serving_root.iterdir() if p.is_dir() and p.name.isdigit())


def push(model_dir: Path, serving_root: Path) -> PushResult:
    """Pushes `model_dir` as the next version under `serving_root`, unless it is already
    the newest one there."""
    if not (model_dir / "saved_model.pb").is_file():
        raise FileNotFoundError(f"{model_dir}: not a SavedModel (no saved_model.pb)")
    candidate = fingerprint(model_dir)
    existing = versions(serving_root)
    if existing and fingerprint(serving_root / str(existing[-1])) == candidate:
        newest = serving_root / str(existing[-1])
        return PushResult(False, existing[-1], newest, candidate, "already the newest version")

    serving_root.mkdir(parents=True, exist_ok=True)
    staging = serving_root / f".staging-{uuid.uuid4().hex}"
    shutil.copytree(model_dir, staging)
    try:
        version = (existing[-1] if existing else 0) + 1
        while True:
            target = serving_root / str(version)
            try:
                # rename(2) of a folder onto a missing name is atomic, and fails if a
                # concurrent pusher took the name first: then try the next number.
                os.rename(staging, target)
                break
            except OSError:
                if not target.exists():
                    raise
                version += 1
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PushResult(True, version, target, candidate, "pushed")
