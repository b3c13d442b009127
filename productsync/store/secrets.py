"""Encryption at rest for secrets the hub must be able to use again (channel signing
secrets, platform credentials). API keys are different: only their hash is stored, they
are never needed back.

Keys come from ``PRODUCTSYNC_SECRET_KEY``: one Fernet key, or several comma-separated
during a rotation. The first seals new secrets; every one of them opens old ones
(``MultiFernet``), so a new key can be put first while secrets sealed with the old one
keep working, ``productsync secrets reseal`` moves them all to the new key, and the old
key can then be dropped.

PostgreSQL (scaled out: several processes, often several machines and working
directories) needs the variable: ``serve`` and ``worker`` refuse to start without it,
because a key file per process would seal each process's secrets with a different key.
An embedded SQLite hub without it keeps a generated key file beside its database (mode
0600), created race-free: two processes starting at once end up with the same key.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import make_url

GENERATE_HINT = "make one with `productsync secrets generate-key`"


class SecretKeyMissing(RuntimeError):
    """No key is configured where one is required (PostgreSQL)."""


class SecretBox:
    """Seals with the first key, opens with any of them."""

    def __init__(self, keys: bytes | list[bytes]) -> None:
        self._keys = [keys] if isinstance(keys, bytes) else list(keys)
        if not self._keys:
            raise ValueError("a secret box needs at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in self._keys])

    @property
    def key_count(self) -> int:
        return len(self._keys)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a stored secret cannot be decrypted: is the key that sealed it still in"
                " PRODUCTSYNC_SECRET_KEY (comma-separated, current first)?"
            ) from exc

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the current (first) key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a stored secret cannot be decrypted with any key in PRODUCTSYNC_SECRET_KEY"
            ) from exc


class UnconfiguredBox(SecretBox):
    """Stands in on PostgreSQL when no key is set (commands that never touch a secret,
    like ``keys create``, still work); any seal or open says what to do."""

    def __init__(self) -> None:
        self._keys = []

    def _refuse(self) -> RuntimeError:
        return SecretKeyMissing(missing_key_message())

    def seal(self, secret: str) -> str:
        raise self._refuse()

    def open(self, sealed: str) -> str:
        raise self._refuse()

    def reseal(self, sealed: str) -> str:
        raise self._refuse()


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(configured: str) -> list[bytes]:
    """Comma-separated Fernet keys, current first; a malformed one is named (by position,
    never echoed) rather than failing later on the first secret."""
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"PRODUCTSYNC_SECRET_KEY: key {i} of {len(keys)} is not a Fernet key"
                f" (32 url-safe base64-encoded bytes); {GENERATE_HINT}"
            ) from exc
    return [k.encode() for k in keys]


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def missing_key_message() -> str:
    legacy = Path("productsync.key")
    hint = ""
    if legacy.exists():
        hint = (
            f"\n  this directory has {legacy.resolve()} from an earlier version: if its secrets are"
            f" sealed with it, use it:  export PRODUCTSYNC_SECRET_KEY=$(cat {legacy})"
        )
    return (
        "PRODUCTSYNC_SECRET_KEY is required on PostgreSQL: every API process and worker must seal"
        " channel secrets with the same key.\n"
        f"  {GENERATE_HINT}:  export PRODUCTSYNC_SECRET_KEY=$(productsync secrets generate-key)\n"
        "  and give the same value to every process." + hint
    )


def secret_key_problem(configured_key: str | None, database_url: str) -> str | None:
    """Why this process must not start (PostgreSQL without a key), or None."""
    if configured_key and configured_key.strip(" ,"):
        parse_keys(configured_key)  # a malformed key fails here, with its own message
        return None
    return None if is_sqlite(database_url) else missing_key_message()


def key_file_for(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().with_suffix(".key")
    return Path("productsync.key").resolve()


def _read_key_file(path: Path) -> bytes | None:
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        return None
    return key or None


def ensure_key_file(path: Path) -> bytes:
    """The key in ``path``, created if missing. Race-free: the key is written and synced
    to a private temporary file in the same directory, which is then hard-linked to
    ``path``; linking fails if another process got there first, and then its key (always
    complete: a link publishes a whole file) is the one used. The file is read back
    either way, so every process uses exactly what is on disk."""
    existing = _read_key_file(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".productsync-key-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    key = _read_key_file(path)
    if key is None:
        raise RuntimeError(f"the secret key file {path} is empty; remove it or set PRODUCTSYNC_SECRET_KEY")
    return key


def load_secret_box(configured_key: str | None, database_url: str) -> SecretBox:
    """The box for this hub: the configured keys; else on SQLite the key file beside the
    database; else (PostgreSQL without a key) a box that refuses with instructions."""
    if configured_key and configured_key.strip(" ,"):
        return SecretBox(parse_keys(configured_key))
    if not is_sqlite(database_url):
        return UnconfiguredBox()
    return SecretBox(ensure_key_file(key_file_for(database_url)))
