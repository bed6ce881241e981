"""Our own Message-IDs: every draft and send carries one, so our mail is recognised when Gmail
shows it back to us (history sync) and a send can be found again before a retry. Pure."""

from __future__ import annotations

import hashlib
import re

_PREFIX = "salesagent."
_OURS = re.compile(r"^<?salesagent\.[a-z0-9-]+\.[0-9]+\.[0-9a-f]{12}@[^<>\s@]+>?$", re.IGNORECASE)


def make_message_id(workflow_id: str, version: int, domain: str, salt: str = "") -> str:
    """`<salesagent.<workflow>.<version>.<hash>@domain>`: stable for one workflow version."""
    safe = re.sub(r"[^a-z0-9-]+", "-", workflow_id.lower()).strip("-") or "wf"
    digest = hashlib.sha256(f"{workflow_id}|{version}|{salt}".encode()).hexdigest()[:12]
    return f"<{_PREFIX}{safe}.{int(version)}.{digest}@{domain.strip().lower()}>"


def is_our_message_id(message_id: str | None) -> bool:
    return bool(message_id) and bool(_OURS.match(str(message_id).strip()))
