"""Our own Message-IDs: every draft and send carries one, so our mail is recognised when Gmail
shows it back to us (history sync) and a send can be found again before a retry. Pure."""

from __future__ import annotations

import hashlib
import re

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
