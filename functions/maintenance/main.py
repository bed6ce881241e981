"""Cloud Function `maintenance`.

Cloud Scheduler's target (hourly): renews each mailbox's Gmail watch once a day, polls any
mailbox whose pushes went quiet, records lapsed or failing watches for the operator page, and
follows Drive's changes feed so the asset library re-indexes edited files and drops deleted
or unshared ones, and removes message, sample and workflow texts past their retention period
(`shared/services/retention.py`), and re-queues the draft step of workflows stuck between
steps (`shared/services/stuck.py`).
Only the scheduler's service account (or Cloud Tasks') may call it.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import logging
from typing import Any

import flask
import functions_framework

from shared.config import load_settings
from shared.errors import AppError, BadRequest
from shared.runtime import Runtime
from shared.services import stuck
from shared.services.mail_wiring import GmailServices
from shared.services.retention import Retention
from shared.services.voice_wiring import VoiceWiring
from shared.web import entrypoint

SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
SERVICES = GmailServices(RUNTIME)
ASSETS = VoiceWiring(RUNTIME)
log = logging.getLogger("sales_agent.maintenance")
_AUDIENCE = SETTINGS.function_url_maintenance


def _weekly_digest(week: Any) -> dict[str, Any]:
    import re

    from shared.services.digest import WeeklyDigest
    from shared.services.mailboxes import mailbox_gmail

    if week is not None and not (isinstance(week, str) and re.fullmatch(r"\d{4}-W\d{2}", week)):
        raise BadRequest('week: an ISO week like "2026-W47"')
    lead = SETTINGS.team_lead_email or next(iter(SETTINGS.operator_emails), "")
    if not lead:
        raise BadRequest("no team lead: set TEAM_LEAD_EMAIL")
    digest = WeeklyDigest(
        RUNTIME.store, lambda mailbox: mailbox_gmail(RUNTIME.store, ASSETS.access, mailbox), lead
    )
    return digest.run(week)


@functions_framework.http
@entrypoint("maintenance", SETTINGS)
def maintenance(request: flask.Request) -> Any:
    if request.method != "POST":
        raise BadRequest("use POST")
    RUNTIME.verifier.verify(
        request.headers.get("Authorization"),
        audience=_AUDIENCE,
        allowed_emails=(SETTINGS.scheduler_invoker_email, SETTINGS.tasks_invoker_email),
    )
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    if body.get("job") == "weekly_digest":
        return _weekly_digest(body.get("week"))
    if body.get("job") not in (None, "hourly"):
        raise BadRequest('job: "hourly" (the default) or "weekly_digest"')
    report = SERVICES.mailboxes.run_maintenance().as_json()
    try:
        report["assets"] = ASSETS.assets.follow_changes()
    except AppError as exc:  # the mailboxes' upkeep is done; the feed is tried next hour
        log.error("asset changes feed failed: %s", exc.public_message)
        report["assets"] = {"error": exc.public_message}
    report["retention"] = Retention(RUNTIME.store, SETTINGS).run()
    report["workflows"] = stuck.sweep(
        RUNTIME.store, RUNTIME.tasks, SETTINGS.queue_draft, SETTINGS.function_url_draft
    )
    return report
