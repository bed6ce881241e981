"""Our own Message-IDs: every draft and send carries one, so our mail is recognised when Gmail
shows it back to us (history sync) and a send can be found again before a retry. Pure."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PREFIX = "salesagent."
_OURS = re.compile(
    r"^(<?)salesagent\.[a-z0-9-]+\.[0-9]+\.[0-9a-f]{12}@[^<>\s@]+(>?)$",
    re.IGNORECASE | re.ASCII,
)


def make_message_id(workflow_id: str, version: int, domain: str, salt: str = "") -> str:
    """`<salesagent.<workflow>.<version>.<hash>@domain>`: stable for one workflow version."""
    host = domain.strip().lower()
    if version < 0 or not host or any(c in host for c in "<>@ "):
        raise ValueError("a Message-ID needs a version of 0 or more and a plain domain")
    safe = re.sub(r"[^a-z0-9-]+", "-", workflow_id.lower()).strip("-") or "wf"
    digest = hashlib.sha256(f"{workflow_id}|{version}|{salt}".encode()).hexdigest()[:12]
    return f"<{_PREFIX}{safe}.{int(version)}.{digest}@{host}>"


def is_our_message_id(message_id: str | None) -> bool:
    """Shaped like ours (brackets balanced). Not proof of origin: callers use it only for
    mail in the rep's own Sent folder."""
    match = _OURS.match(str(message_id or "").strip())
    return match is not None and len(match.group(1)) == len(match.group(2))


def reply_subject(subject: str) -> str:
    """`Re: <subject>` once, whatever prefixes the thread already carries."""
    bare = re.sub(r"^\s*((re|aw|sv|antw|fwd?|wg)\s*:\s*)+", "", subject or "", flags=re.I).strip()
    return f"Re: {bare}" if bare else "Re:"


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
) -> bytes:
    """An RFC 5322 message (a Gmail draft or send). Headers are set by the email library, so
    a CR/LF in any value is refused rather than turned into a header."""
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate

    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = " ".join(dict.fromkeys([*references, in_reply_to]))
    message.set_content(body)
    return message.as_bytes()


@dataclass(frozen=True)
class DraftContent:
    """What a Gmail draft would send, read back from its RFC 822 bytes."""

    to: str  # the bare address; "" when missing or not exactly one address
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]
    extra_recipients: bool  # Cc/Bcc or a second To address (added in Gmail)


def read_draft(raw: bytes) -> DraftContent:
    from email import message_from_bytes, policy
    from email.utils import getaddresses

    parsed = message_from_bytes(raw, policy=policy.default)
    addresses = [a for _, a in getaddresses([str(v) for v in parsed.get_all("To") or []]) if a]
    copies = [str(v) for v in (parsed.get_all("Cc") or []) + (parsed.get_all("Bcc") or [])]
    body_part = parsed.get_body(("plain",)) if hasattr(parsed, "get_body") else None
    body = str(body_part.get_content()) if body_part is not None else ""
    references = tuple(str(parsed.get("References") or "").split())
    return DraftContent(
        to=addresses[0].lower() if len(addresses) == 1 else "",
        subject=str(parsed.get("Subject") or ""),
        body=body,
        message_id=str(parsed.get("Message-ID") or "").strip(),
        in_reply_to=str(parsed.get("In-Reply-To") or "").strip() or None,
        references=references,
        extra_recipients=len(addresses) > 1 or any(c.strip() for c in copies),
    )
