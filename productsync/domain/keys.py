"""API key format and hashing.

A key looks like ``psk_<prefix>_<secret>``. Only SHA-256 of the whole key is
stored: the secret has 256 bits of entropy, so a slow password hash would add
latency to every request without adding safety. The prefix is public and
names the key in listings and logs.
"""

from __future__ import annotations

import hashlib
import re
import secrets

_KEY_RE = re.compile(r"^psk_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")


def new_key() -> tuple[str, str]:
    """A fresh (prefix, full key)."""
    prefix = secrets.token_hex(4)
    return prefix, f"psk_{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return bool(_KEY_RE.match(token))
