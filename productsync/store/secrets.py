"""Encryption at rest for secrets the hub must be able to use again (channel signing
secrets). API keys are different: only their hash is stored, they are never needed back.

The key comes from ``PRODUCTSYNC_SECRET_KEY`` (a Fernet key). Without it, an embedded
hub creates a key file beside its database on first start (mode 0600), so a copied
database alone does not reveal channel secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise RuntimeError(
                "a stored secret cannot be decrypted: is PRODUCTSYNC_SECRET_KEY the right key?"
            ) from exc


def key_file_for(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().with_suffix(".key")
    return Path("productsync.key").resolve()


def load_secret_box(configured_key: str | None, database_url: str) -> SecretBox:
    if configured_key:
        return SecretBox(configured_key.encode())
    path = key_file_for(database_url)
    if not path.exists():
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
    return SecretBox(path.read_bytes().strip())
