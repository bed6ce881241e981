"""Which email addresses we accept, and when two name the same mailbox. Pure.

Apart from `shared.domain.mail` (which re-exports these) so that code needing only an address
check, such as the Gmail push's, does not load the mail parser and its email packages.
"""

from __future__ import annotations

import re

__all__ = ["normalize_email", "same_email"]

_LOCAL_ALLOWED = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _valid_local(local: str) -> bool:
    if not local or len(local) > 64 or local.startswith(".") or local.endswith("."):
        return False
    if ".." in local:
        return False
    ascii_part = "".join(ch for ch in local if ord(ch) < 128)
    if ascii_part and not _LOCAL_ALLOWED.match(ascii_part):
        return False
    return all(ord(ch) < 128 or ch.isalnum() for ch in local)


def _valid_domain(domain: str) -> bool:
    if len(domain) > 253 or "." not in domain:
        return False
    labels = domain.split(".")
    for label in labels:
        if not label:
            return False
        if label.isascii():
            if not _LABEL.match(label):
                return False
        elif not all(ch.isalnum() or ch == "-" for ch in label) or label[0] == "-":
            return False
    return not labels[-1].isdigit()


def normalize_email(value: str) -> str | None:
    """A bare addr-spec with its domain lower-cased, or None if it is not one we accept.

    Exactly one `@`, a valid local part, a dotted domain (no IP literals, no `localhost`), no
    whitespace, quotes, angle brackets or control characters.
    """
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if not candidate or len(candidate) > 254 or candidate.count("@") != 1:
        return None
    if _CONTROL.search(candidate) or any(ch.isspace() for ch in candidate):
        return None
    local, _, domain = candidate.partition("@")
    domain = domain.lower()
    if not _valid_local(local) or not _valid_domain(domain):
        return None
    return f"{local}@{domain}"


def same_email(left: str | None, right: str | None) -> bool:
    """Whether two addresses name the same mailbox (case-insensitive; both must be valid)."""
    a = normalize_email(left or "")
    b = normalize_email(right or "")
    return a is not None and b is not None and a.casefold() == b.casefold()
