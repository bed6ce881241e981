"""A workflow: one lead's journey from first signal to a closed conversation. Pure."""

from __future__ import annotations

from enum import StrEnum


class WorkflowState(StrEnum):
    QUEUED = "queued"  # opened; a draft task is queued
    DRAFTING = "drafting"
    AWAITING_APPROVAL = "awaiting_approval"
    NEEDS_INPUT = "needs_input"  # the draft needs the rep's answer first
    BLOCKED = "blocked"  # the gate refused to draft or send
    APPROVED = "approved"  # a send is scheduled after the undo window (or, in DRAFT_ONLY, the
    # rep sends it from Gmail)
    SUPPRESSED = "suppressed"  # approved, but the kill switch or the mode held the send
    REJECTED = "rejected"  # a person rejected the draft; a new reply drafts again
    PAUSED = "paused"  # the mailbox's Google grant was refused: resumed when it reconnects
    SENDING = "sending"
    SENT = "sent"
    WAITING_REPLY = "waiting_reply"  # sent; a nurture step may follow
    REP_ANSWERED = "rep_answered"
    CLOSED = "closed"  # done: meeting booked, unsubscribed, not interested, lost
    FAILED = "failed"  # a permanent fault a person must look at


CLOSED_STATES = frozenset({WorkflowState.CLOSED})


def is_open(state: str | None) -> bool:
    """An open workflow absorbs new signals for its contact instead of a second one opening.
    A record without a state is not one to attach to."""
    return state is not None and state not in CLOSED_STATES


class Source(StrEnum):
    FORM = "form"
    CONTACT = "contact"
    LIFECYCLE = "lifecycle"
    REPLY = "reply"
    CAMPAIGN = "campaign"
