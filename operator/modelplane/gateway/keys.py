"""API keys: kept only as SHA-256 digests, compared in constant time, never logged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

Digests = frozenset[bytes]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def from_lines(text: str) -> Digests:
    """One key per line; blank lines and # comments skipped (the global keys file)."""
    keys = (line.strip() for line in text.splitlines())
    return frozenset(digest(k) for k in keys if k and not k.startswith("#"))


def from_secret_data(data: Mapping[str, str] | None) -> Digests:
    """Every value of a Secret's data is one key (several keys allow rotation)."""
    found = set()
    for value in (data or {}).values():
        try:
            key = base64.b64decode(value, validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            continue
        if key:
            found.add(digest(key))
    return frozenset(found)


def bearer(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header."""
    if not authorization:
        return None
    scheme, _, key = authorization.partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def accepted(presented: str | None, allowed: Iterable[Digests]) -> bool:
    """Whether ``presented`` is one of the allowed keys.

    Every stored digest is compared, with hmac.compare_digest, whatever
    matched before: the time taken says nothing about which key or how much
    of it was right.
    """
    if presented is None:
        return False
    candidate = digest(presented)
    match = False
    for digests in allowed:
        for stored in digests:
            match |= hmac.compare_digest(stored, candidate)
    return match
