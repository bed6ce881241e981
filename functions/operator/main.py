"""Cloud Function `operator`.

The operator page and its JSON API. People sign in with Google (locally, a development login);
service accounts call the API with a Google ID token. Pages are server-rendered (Jinja2,
autoescaped: email and HubSpot content is shown as text), every asset is served from here,
and every answer carries a strict Content-Security-Policy and the usual security headers.

Roles (`shared/domain/access.py`): viewer < approver < admin. Every route's least role is in
that one table, checked here once before anything is dispatched (a route not in it needs
admin); a refusal is a 403 and changes nothing. `OPERATOR_EMAILS` are admins from the
deployment; others hold a role in `operator_roles/{email}`, read on every request. Bearer
callers (`OPERATOR_API_CALLERS`, set at deploy time) are admins. A non-admin never sees a
secret's name; an approver acts on their own mailbox's drafts and their own voice only.

Pages:  /  (dashboard) · /queue · /queue/<id> · /workflows · /workflows/<id> · /flags (with
        its temporary overrides) · /connections · /voice · /outcomes · /campaigns ·
        /campaigns/new · /campaigns/<id> · /access (roles) · /privacy (export, forget) ·
        /login · /logout
API (a session cookie with its CSRF token, or a bearer token of OPERATOR_API_CALLERS),
documented in `openapi.json` (served at /api/openapi.json):

    GET   /api/flags                          send mode, kill switch, auto-approve, quotas...
    PATCH /api/flags                          {"changes": {...}, "reason"}: audited per field
    POST  /api/overrides                      {"target", "value", "hours", "reason"}: a
                                              temporary quota or guardrail value
    DELETE /api/overrides/<id>                {"reason"}: end it early
    GET   /api/audit?kind=&limit=             the audit log, newest first
    GET   /api/queue                          drafts waiting for a person
    GET   /api/workflows/<id>                 a workflow with its Gmail draft as it is now
    POST  /api/workflows/<id>/approve         {"content_hash"}: the version you reviewed
    POST  /api/workflows/<id>/cancel          stop a send within the undo window
    POST  /api/workflows/<id>/reject          {"reason"}
    POST  /api/workflows/<id>/edit            {"content_hash", "subject", "body", "approve"?}
    POST  /api/workflows/<id>/regenerate      {"instruction"}
    GET   /api/connections                    mailboxes, HubSpot, OpenAI: status, never a value
    PUT   /api/connections/openai             {"key"}; DELETE: back to the offline drafter
    PUT   /api/connections/hubspot            {"token"?, "webhook_secret"?}
    POST  /api/connections/google/start       {"login_hint"?}: Google's consent URL, and a
                                              binding cookie for this browser
    GET   /api/connections/google/callback    Google's redirect (state + cookie, no bearer)
    POST  /api/connections/google/<email>/disconnect   revoke, destroy the secret, stop watch
    GET   /api/campaigns                      every campaign, newest first
    POST  /api/campaigns                      a campaign spec: stored as a draft
    POST  /api/campaigns/preview              a campaign spec: who is in and why, who is not
    GET   /api/campaigns/<id>                 the campaign with its progress
    POST  /api/campaigns/<id>/<step>          launch, pause, resume, cancel; approve
                                              {"sampled": [workflow ids read first]}
    GET   /api/roles                          who may sign in, and as what
    PUT   /api/roles/<email>                  {"role", "reason"}: give or change a role
    DELETE /api/roles/<email>                 {"reason"}: take it away
    GET   /api/privacy/export?email=          everything held about a person
    POST  /api/privacy/forget                 {"email", "reason"}: erase them everywhere
    POST  /api/suppressions                   {"email", "reason"}: never write to them again
    POST  /api/suppressions/lift              {"email", "reason"}: they opted back in

Entry point only: parse the request, call `shared`, map the result to an HTTP answer.
"""

from __future__ import annotations

from shared.startup import begin_startup

begin_startup()  # before any import: see shared/startup.py

import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import flask
import functions_framework

from shared.config import Settings, load_settings
from shared.domain.access import Role, may_act_for, redact, refusal, required_role
from shared.domain.workflow import WorkflowState
from shared.errors import AppError, BadRequest, Forbidden, NotFound, Unauthorized
from shared.runtime import Runtime
from shared.services.access import OperatorRoles
from shared.services.operator_api import CAMPAIGN_SAMPLE, OperatorApi, plain
from shared.services.operator_web import (
    COOKIE,
    SECURITY_HEADERS,
    OperatorDoor,
    Session,
    cookie_options,
)
from shared.services.send_wiring import SendWiring
from shared.services.voice_wiring import VoiceWiring
from shared.web import entrypoint, read_body

log = logging.getLogger("sales_agent.operator")
SETTINGS = load_settings()
RUNTIME = Runtime(SETTINGS)
API = OperatorApi(SendWiring(RUNTIME))
ROLES = OperatorRoles(RUNTIME.store, SETTINGS, API.wiring.audit)
DOOR = OperatorDoor(SETTINGS, RUNTIME.secrets, RUNTIME.verifier, ROLES)
# Secret Manager secrets' names: a non-admin never sees one (nor a mailbox's token secret).
SECRET_NAMES = tuple(
    str(getattr(SETTINGS, name))
    for name, field in Settings.model_fields.items()
    if (field.description or "").startswith("Secret Manager secret")
)
VOICE = VoiceWiring(RUNTIME)
_AUDIENCE = SETTINGS.function_url_operator
_BINDING_COOKIE = "sa_oauth_binding"  # HttpOnly, Secure, SameSite=Lax, 10 minutes
_BINDING_PATH = "/api/connections/google"
_LOGIN_COOKIE = "sa_login_flow"  # the sign-in's state and PKCE verifier, signed, 10 minutes
_HERE = Path(__file__).parent
_STATIC = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}
_TEMPLATES: Any = None


def _templates() -> Any:
    global _TEMPLATES
    if _TEMPLATES is None:
        import jinja2

        _TEMPLATES = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.ChainableUndefined,
        )
    return _TEMPLATES


def _json_body(request: flask.Request) -> dict[str, Any]:
    try:
        body = json.loads(read_body(request, 64 * 1024) or b"{}")
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _secured(response: flask.Response) -> flask.Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _page(name: str, status: int = 200, **context: Any) -> flask.Response:
    session = context.get("session")
    if isinstance(session, Session) and session.role is not Role.ADMIN:
        context = {k: v if k == "session" else redact(v, SECRET_NAMES) for k, v in context.items()}
    html = _templates().get_template(name).render(**context)
    return _secured(flask.make_response(html, status))


def _csv(text: str, filename: str) -> flask.Response:
    response = flask.make_response(text)
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _secured(response)


def _redirect(to: str) -> flask.Response:
    return _secured(flask.redirect(to, code=303))


@functions_framework.http
@entrypoint("operator", SETTINGS)
def operator(request: flask.Request) -> Any:
    path = "/" + request.path.strip("/")
    if path.startswith("/ui/"):  # not /static/: Flask claims that prefix for itself
        name = path.removeprefix("/ui/")
        if name not in _STATIC:
            raise NotFound("no such file")
        body = (_HERE / "static" / name).read_bytes()
        response = flask.make_response(body)
        response.headers["Content-Type"] = _STATIC[name]
        return _secured(response)
    if path == "/api/openapi.json" and request.method == "GET":
        response = flask.make_response((_HERE / "openapi.json").read_bytes())
        response.headers["Content-Type"] = "application/json"
        return _secured(response)
    if path.startswith("/api/"):
        try:
            return _api(request, path)
        except AppError as exc:
            if exc.http_status >= 500:
                raise
            log.warning("request refused: %s", exc.public_message)
            response = flask.make_response(flask.jsonify({"error": exc.public_message}))
            response.status_code = exc.http_status
            return _secured(response)
    return _pages(request, path)


# --- pages ----------------------------------------------------------------------------
def _pages(request: flask.Request, path: str) -> Any:
    method = request.method
    if path == "/login" and method == "GET":
        return _login_page()
    if path in ("/login", "/login/dev") and method == "POST":
        return _sign_in(request, path)
    if path == "/login/google" and method == "GET":
        url, flow = DOOR.start_google_login()
        response = _secured(flask.redirect(url, code=303))
        response.set_cookie(
            _LOGIN_COOKIE,
            flow,
            max_age=600,
            path="/login",
            secure=True,
            httponly=True,
            samesite="Lax",
        )
        return response
    if path == "/login/callback" and method == "GET":
        try:
            _, cookie = DOOR.finish_google_login(
                request.args.get("state"),
                request.args.get("code"),
                request.cookies.get(_LOGIN_COOKIE),
                request.args.get("error"),
            )
        except AppError as exc:
            if exc.http_status >= 500:
                raise
            return _login_page(exc.public_message, exc.http_status)
        response = _redirect("/")
        response.delete_cookie(_LOGIN_COOKIE, path="/login")
        response.set_cookie(COOKIE, cookie, **cookie_options(DOOR))
        return response
    session = DOOR.session(request.cookies.get(COOKIE))
    if session is None:
        return _redirect("/login")
    try:
        DOOR.check_csrf(session, method, request.headers, request.form)
    except AppError as exc:
        return _page("base.html", exc.http_status, title="Refused", error=exc.public_message)
    flags = API.wiring.flags.current()
    common = {"session": session, "flags": flags, "can": _can(session.role)}
    refused = refusal(session.role, method, path)
    if refused is not None:  # the one role check for every page; nothing has run yet
        log.warning("page refused: %s %s for a %s", method, path, session.role.value)
        return _page("base.html", 403, title="Refused", error=refused, **common)
    try:
        return _route_page(request, path, session, common)
    except AppError as exc:
        if exc.http_status >= 500:
            raise
        return _page(
            "base.html", exc.http_status, title="Refused", error=exc.public_message, **common
        )


def _can(role: Role) -> Any:
    """For the templates: whether this role may use a route (to hide what it may not)."""
    return lambda method, path: role.allows(required_role(method, path))


def _route_page(request: flask.Request, path: str, session: Session, common: dict[str, Any]) -> Any:
    method = request.method
    who = session.email
    if path == "/logout" and method == "POST":
        response = _redirect("/login")
        response.delete_cookie(COOKIE, path="/")
        return response
    if path == "/" and method == "GET":
        return _page(
            "dashboard.html", title="Dashboard", page="dashboard", numbers=API.dashboard(), **common
        )
    if path == "/queue" and method == "GET":
        queue = API.queue()
        return _page(
            "queue.html",
            title="Approval queue",
            page="queue",
            items=queue["items"],
            waiting=queue["waiting"],
            **common,
        )
    if path.startswith("/queue/"):
        parts = path.removeprefix("/queue/").split("/")
        if len(parts) == 1 and method == "GET":
            shown = API.workflow(parts[0])
            workflow = shown["workflow"]
            draft = workflow.get("draft") or {}
            return _page(
                "draft.html",
                title=draft.get("subject") or "Draft",
                page="queue",
                workflow=workflow,
                draft=draft,
                gate=draft.get("gate") or {},
                gmail=shown["gmail_draft"] or {"error": "no Gmail draft"},
                acts=session.role.allows(Role.APPROVER)
                and may_act_for(session.role, who, workflow.get("mailbox") or draft.get("mailbox")),
                **common,
            )
        if len(parts) == 2 and method == "POST":
            form = request.form.to_dict()
            body: dict[str, Any] = dict(form)
            if parts[1] == "edit":
                body["approve"] = True
            API.act(parts[0], parts[1], body, who=who, role=session.role)
            return _redirect("/queue")
    if path == "/workflows" and method == "GET":
        filters = {k: request.args.get(k) or None for k in ("state", "source", "owner", "since")}
        rows = API.workflows(
            filters["state"], filters["source"], filters["owner"], filters["since"]
        )
        states = [s.value for s in WorkflowState]
        return _page(
            "workflows.html",
            title="Workflows",
            page="workflows",
            rows=rows,
            filters=filters,
            states=states,
            **common,
        )
    if path.startswith("/workflows/") and method == "GET":
        shown = API.timeline(path.removeprefix("/workflows/"))
        return _page(
            "workflow.html",
            title="Workflow",
            page="workflows",
            workflow=shown["workflow"],
            timeline=shown["timeline"],
            **common,
        )
    if path == "/connections" and method == "GET":
        overview = plain(API.connections.overview())
        return _page(
            "connections.html",
            title="Connections",
            page="connections",
            connections=overview,
            **common,
        )
    if path == "/connections/google" and method == "POST":
        hint = request.form.get("login_hint") or None
        url, binding = API.google.start(who, login_hint=hint)
        return _bound(_secured(flask.redirect(url, code=303)), binding)
    if path == "/connections/hubspot" and method == "POST":
        values = {k: v for k in ("token", "webhook_secret") if (v := request.form.get(k))}
        API.connections.set_hubspot(values, who=who)
        return _redirect("/connections")
    if path == "/connections/openai" and method == "POST":
        API.connections.set_openai_key(request.form.get("key"), who=who)
        return _redirect("/connections")
    if path == "/status" and method == "GET":
        return _page(
            "status.html", title="Status", page="status", health=plain(API.health()), **common
        )
    if path in ("/outcomes.csv", "/api/outcomes.csv") and method == "GET":
        return _csv(API.outcomes_csv(), "outcomes.csv")
    if path == "/outcomes" and method == "GET":
        return _page(
            "outcomes.html",
            title="Outcomes",
            page="outcomes",
            outcomes=API.outcomes(),
            campaign_outcomes=API.campaign_outcomes(),
            **common,
        )
    if path == "/voice" or path.startswith("/voice/"):
        return _voice(request, path, session, common)
    if path == "/campaigns" or path.startswith("/campaigns/"):
        return _campaigns(request, path, session, common)
    if path == "/flags" or path.startswith("/flags/"):
        return _flags(request, path, who, common)
    if path == "/access" or path.startswith("/access/"):
        return _access(request, path, who, common)
    if path == "/privacy" or path.startswith("/privacy/"):
        return _privacy(request, path, who, common)
    raise NotFound("no such page")


# --- flags and their temporary overrides ----------------------------------------------
def _flags(request: flask.Request, path: str, who: str, common: dict[str, Any]) -> Any:
    from shared.domain.sending import OVERRIDE_TARGETS

    method = request.method
    if path == "/flags" and method == "GET":
        audit = API.audit("flag_change", "50")["entries"]
        return _page(
            "flags.html",
            title="Flags",
            page="flags",
            audit=audit,
            overrides=(common["flags"] or {}).get("overrides") or [],
            targets=(*OVERRIDE_TARGETS, "campaign.<id>.per_day", "campaign.<id>.per_minute"),
            **common,
        )
    if path == "/flags" and method == "POST":
        API.change_flags(
            _flag_changes(request.form), who=who, reason=request.form.get("reason", "")
        )
        return _redirect("/flags")
    if path == "/flags/overrides" and method == "POST":
        # As typed: FlagStore reads a number, or a comma-separated list, for each target.
        fields = ("target", "value", "hours", "reason")
        API.set_override({k: str(request.form.get(k) or "").strip() for k in fields}, who=who)
        return _redirect("/flags")
    parts = path.removeprefix("/flags/overrides/").split("/")
    if len(parts) == 2 and parts[1] == "revoke" and method == "POST":
        API.revoke_override(parts[0], {"reason": request.form.get("reason", "")}, who=who)
        return _redirect("/flags")
    raise NotFound("no such page")


# --- roles ----------------------------------------------------------------------------
def _access(request: flask.Request, path: str, who: str, common: dict[str, Any]) -> Any:
    """Who may sign in and as what; admins add, change and remove roles here."""
    method = request.method
    if path == "/access" and method == "GET":
        return _page(
            "access.html",
            title="Access",
            page="access",
            roles=plain(ROLES.listing()),
            audit=API.audit("role_change", "50")["entries"],
            **common,
        )
    form = request.form
    if path == "/access" and method == "POST":
        ROLES.assign(form.get("email"), form.get("role"), who=who, reason=form.get("reason"))
        return _redirect("/access")
    parts = path.removeprefix("/access/").split("/")
    if len(parts) == 2 and parts[1] == "remove" and method == "POST":
        ROLES.remove(parts[0], who=who, reason=form.get("reason"))
        return _redirect("/access")
    raise NotFound("no such page")


# --- privacy requests -----------------------------------------------------------------
def _privacy(request: flask.Request, path: str, who: str, common: dict[str, Any]) -> Any:
    """Export what we hold about a person (a JSON download), or forget them (after a
    confirmation), and show what was erased where."""
    method = request.method
    if path == "/privacy" and method == "GET":
        return _page("privacy.html", title="Privacy", page="privacy", form={}, **common)
    if path == "/privacy/export" and method == "GET":
        email = str(request.args.get("email") or "").strip()
        if not email:
            raise BadRequest("email: whose data to export")
        return _download(API.privacy.export(email), email)
    if path in ("/privacy/suppress", "/privacy/unsuppress") and method == "POST":
        act = API.suppressions.lift if path.endswith("/unsuppress") else API.suppressions.suppress
        form = {k: str(request.form.get(k) or "").strip() for k in ("email", "reason")}
        done = act(form["email"], who=who, reason=form["reason"])
        state = "suppressed" if done["active"] else "no longer suppressed"
        return _page(
            "privacy.html",
            title="Privacy",
            page="privacy",
            form={},
            notice=f"{form['email']} is {state} (audited).",
            **common,
        )
    if path == "/privacy/forget" and method == "POST":
        form = {k: str(request.form.get(k) or "").strip() for k in ("email", "reason")}
        if request.form.get("confirm") != "yes":
            return _page(
                "privacy.html",
                400,
                title="Privacy",
                page="privacy",
                form=form,
                error="tick the box to confirm: forgetting a person cannot be undone",
                **common,
            )
        result = API.privacy.forget(form["email"], who=who, reason=form["reason"])
        return _page(
            "privacy.html",
            title="Privacy",
            page="privacy",
            form={},
            forgotten={"email": form["email"], "result": plain(result)},
            **common,
        )
    raise NotFound("no such page")


def _download(data: Any, email: str) -> flask.Response:
    """A JSON file the browser saves rather than shows."""
    name = re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-") or "person"
    body = json.dumps(plain(data), indent=2, sort_keys=True, ensure_ascii=False)
    response = flask.make_response(body)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="privacy-export-{name}.json"'
    return _secured(response)


def _voice(request: flask.Request, path: str, session: Session, common: dict[str, Any]) -> Any:
    """Voice training for a rep: the page, uploads (one file per request from the drop zone,
    or several from the plain form), links, HubSpot records, delete, retrain. Anyone may look;
    an approver trains their own voice only, an admin anyone's."""
    from shared.services.voice_api import rep_of, submit_reference, submit_upload

    service = VOICE.service
    who = session.email
    rep = rep_of(request.args.get("rep") or who)
    back = _redirect(f"/voice?rep={quote(rep)}")
    if request.method == "POST" and not may_act_for(session.role, who, rep):
        raise Forbidden(f"you may train your own voice only; {rep}'s is theirs or an admin's")
    if path == "/voice" and request.method == "GET":
        reps = sorted({who, rep, *(e.lower() for e in SETTINGS.operator_emails)})
        samples = service.list_samples(rep)
        query = (request.args.get("q") or "").strip()
        found = _hubspot_contacts().search(query) if query else []
        return _page(
            "voice.html",
            title="Voice training",
            page="voice",
            rep=rep,
            reps=reps,
            samples=samples,
            previews=service.previews(samples),
            retraining=(retraining := _retraining(service, rep)),
            refresh=3 if retraining or any(x.get("status") == "pending" for x in samples) else None,
            query=query,
            found=found,
            profile=service.profile(rep),
            trains=session.role is not Role.VIEWER and may_act_for(session.role, who, rep),
            **common,
        )
    if request.method != "POST":
        raise NotFound("no such page")
    if path == "/voice/upload":
        limit = SETTINGS.voice_upload_max_bytes
        accepted = []
        for upload in request.files.getlist("file"):
            if not upload.filename:
                continue
            sample, _ = submit_upload(
                service,
                rep,
                upload.stream.read(limit + 1),
                filename=upload.filename,
                content_type=upload.mimetype,
                title=None,
                max_bytes=limit,
            )
            accepted.append(sample)
        if not accepted:
            raise BadRequest("choose at least one file")
        if "application/json" in (request.headers.get("Accept") or ""):
            return _secured(flask.make_response(flask.jsonify({"samples": plain(accepted)}), 202))
        return back
    if path == "/voice/links":
        lines = [line.strip() for line in request.form.get("links", "").splitlines()]
        links = [line for line in lines if line][:20]
        if not links:
            raise BadRequest("paste at least one link")
        for link in links:
            submit_reference(service, {"rep": rep, "value": link}, SETTINGS.link_fetch_allow_hosts)
        return back
    if path == "/voice/hubspot":
        submit_reference(
            service,
            {
                "rep": rep,
                "source": "hubspot",
                "object_type": request.form.get("object_type"),
                "value": request.form.get("id"),
            },
        )
        return back
    if path == "/voice/retrain":
        service.enqueue_profile(rep, f"retrain asked by {who}", force=True)
        RUNTIME.store.db.collection("voice_retrains").document(rep).set(
            {"rep": rep, "requested_at": datetime.now(UTC), "by": who}
        )
        return back
    if path.startswith("/voice/samples/") and path.endswith("/delete"):
        service.delete(rep, path.removeprefix("/voice/samples/").removesuffix("/delete"))
        return back
    raise NotFound("no such page")


def _retraining(service: Any, rep: str) -> bool:
    """A retrain was asked for and the profile has not been rebuilt since."""
    snap = RUNTIME.store.db.collection("voice_retrains").document(rep).get()
    asked = (snap.to_dict() or {}).get("requested_at") if snap.exists else None
    if asked is None:
        return False
    built = (service.profile(rep) or {}).get("built_at")
    return built is None or built < asked


# --- campaign pages -------------------------------------------------------------------
_CAMPAIGN_ID = re.compile(r"[a-z0-9-]{3,40}")
FILTER_ROWS = 10  # HubSpot ANDs at most 10 filters in one group; so does the campaign model
SHOWN_SKIPPED = 50
SHOWN_WORKFLOWS = 500
CONTACT_PROPERTIES = (
    "industry",
    "numberofemployees",
    "lifecyclestage",
    "hs_lead_status",
    "hubspot_owner_id",
    "notes_last_contacted",
    "country",
    "jobtitle",
)
COMPANY_PROPERTIES = ("industry", "numberofemployees", "lifecyclestage", "country")
OPERATORS = (
    ("EQ", "is"),
    ("NEQ", "is not"),
    ("IN", "is any of"),
    ("NOT_IN", "is none of"),
    ("GT", "is greater than"),
    ("GTE", "is at least"),
    ("LT", "is less than"),
    ("LTE", "is at most"),
    ("HAS_PROPERTY", "is set"),
    ("NOT_HAS_PROPERTY", "is not set"),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CONSENT_BASES = ("legitimate_interest", "consent", "contract")
_CAMPAIGN_STEPS = ("launch", "pause", "resume", "cancel")


def _campaigns(request: flask.Request, path: str, session: Session, common: dict[str, Any]) -> Any:
    """The campaigns: the list, the new-campaign form (with its preview), one campaign with
    its live progress, and its buttons (launch, pause, resume, cancel, approve the drafts)."""
    method = request.method
    who = session.email
    service = API.campaigns
    if path == "/campaigns" and method == "GET":
        rows = [{**plain(c), "progress": service.progress(str(c.get("id")))} for c in service.all()]
        return _page("campaigns.html", title="Campaigns", page="campaigns", rows=rows, **common)
    if path == "/campaigns/new" and method == "GET":
        return _campaign_form(_default_campaign_form(), common)
    if path == "/campaigns/new" and method == "POST":
        return _campaign_submit(request, who, common)
    parts = path.removeprefix("/campaigns/").split("/")
    campaign_id = parts[0]
    if not _CAMPAIGN_ID.fullmatch(campaign_id):
        raise NotFound("no such campaign")
    if len(parts) == 1 and method == "GET":
        return _campaign_page(campaign_id, common)
    if len(parts) == 2 and method == "POST" and parts[1] in _CAMPAIGN_STEPS:
        steps = {
            "launch": service.launch,
            "pause": service.pause,
            "resume": service.resume,
            "cancel": service.cancel,
        }
        try:
            steps[parts[1]](campaign_id, by=who)
        except AppError as exc:
            if exc.http_status >= 500 or isinstance(exc, NotFound):
                raise
            return _campaign_page(campaign_id, common, exc.http_status, error=exc.public_message)
        return _redirect(f"/campaigns/{campaign_id}")
    if len(parts) == 2 and method == "POST" and parts[1] == "approve":
        service.get(campaign_id)  # NotFound for a campaign nobody made
        sampled = [s for s in request.form.getlist("sampled") if s]
        try:
            answer = API.approve_campaign(campaign_id, sampled, who=who, role=session.role)
        except AppError as exc:
            if exc.http_status >= 500:
                raise
            return _campaign_page(
                campaign_id, common, exc.http_status, error=exc.public_message, sampled=sampled
            )
        return _campaign_page(campaign_id, common, approval=answer)
    raise NotFound("no such page")


def _campaign_page(
    campaign_id: str,
    common: dict[str, Any],
    status: int = 200,
    *,
    error: str | None = None,
    approval: dict[str, Any] | None = None,
    sampled: list[str] | None = None,
) -> flask.Response:
    """One campaign: its spec, state, progress, who was skipped and why, and its workflows
    (the drafted ones with an "I read this draft" box for the bulk approval)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    campaign = plain(API.campaigns.get(campaign_id))
    db = RUNTIME.store.db
    skipped = [
        plain(snap.to_dict() or {})
        for snap in db.collection("campaigns")
        .document(campaign_id)
        .collection("members")
        .where(filter=FieldFilter("status", "==", "skipped"))
        .order_by("n")
        .limit(SHOWN_SKIPPED)
        .stream()
    ]
    workflows = []
    for snap in (
        db.collection("workflows")
        .where(filter=FieldFilter("campaign_id", "==", campaign_id))
        .select(["state", "contact_email", "mailbox", "draft.subject", "updated_at"])
        .stream()
    ):
        data = snap.to_dict() or {}
        workflows.append(
            {
                "id": snap.id,
                "state": data.get("state"),
                "contact": data.get("contact_email"),
                "mailbox": data.get("mailbox"),
                "subject": (data.get("draft") or {}).get("subject"),
            }
        )
    # The drafts waiting for approval first, then by contact.
    workflows.sort(key=lambda w: (w["state"] != "awaiting_approval", str(w["contact"] or "")))
    progress = campaign.get("progress") or {}
    drafting = int((progress.get("workflows") or {}).get("drafting") or 0)
    live = campaign.get("state") == "running" or drafting > 0
    return _page(
        "campaign.html",
        status,
        title=campaign.get("name") or campaign_id,
        page="campaigns",
        campaign=campaign,
        progress=progress,
        skipped=skipped,
        skipped_by_reason=sorted(
            ((campaign.get("resolved") or {}).get("excluded_by_reason") or {}).items()
        ),
        workflows=workflows[:SHOWN_WORKFLOWS],
        more_workflows=max(0, len(workflows) - SHOWN_WORKFLOWS),
        drafted=sum(1 for w in workflows if w["state"] == "awaiting_approval"),
        sample=CAMPAIGN_SAMPLE,
        sampled=set(sampled or ()),
        approval=approval,
        live=live,
        weekdays=WEEKDAYS,
        operators=dict(OPERATORS),
        error=error,
        **common,
    )


def _campaign_submit(request: flask.Request, who: str, common: dict[str, Any]) -> Any:
    """The new-campaign form: `action=preview` shows who is in (nothing is written),
    `action=create` stores the campaign as a draft. Refused input keeps every value."""
    form = _campaign_form_values(request.form)
    spec = _campaign_spec(request.form)
    try:
        if request.form.get("action") == "preview":
            preview = API.campaigns.preview(spec)
            return _campaign_form(form, common, preview=plain(preview))
        if spec["id"] == "new":
            raise BadRequest("id: “new” is the page for new campaigns; choose another id")
        created = API.campaigns.create(spec, by=who)
    except AppError as exc:
        if exc.http_status >= 500:
            raise
        return _campaign_form(form, common, exc.http_status, error=exc.public_message)
    return _redirect(f"/campaigns/{quote(str(created['id']))}")


def _campaign_form(
    form: dict[str, Any],
    common: dict[str, Any],
    status: int = 200,
    *,
    error: str | None = None,
    preview: dict[str, Any] | None = None,
) -> flask.Response:
    return _page(
        "campaign_new.html",
        status,
        title="New campaign",
        page="campaigns",
        form=form,
        preview=preview,
        error=error,
        operators=OPERATORS,
        weekdays=WEEKDAYS,
        consent_bases=CONSENT_BASES,
        contact_properties=CONTACT_PROPERTIES,
        company_properties=COMPANY_PROPERTIES,
        **common,
    )


def _default_campaign_form() -> dict[str, Any]:
    rows = [
        {"object": "contact", "property": "", "operator": "EQ", "value": ""}
        for _ in range(FILTER_ROWS)
    ]
    return {
        "id": "",
        "name": "",
        "story_title": "",
        "story_brief": "",
        "story_asset_ids": "",
        "segment_list_id": "",
        "filters": rows,
        "owner_kind": "contact_owner",
        "owner_rep_email": "",
        "per_minute": "6",
        "per_day": "100",
        "per_company": "2",
        "days": {"0", "1", "2", "3", "4"},
        "start_hour": "9",
        "end_hour": "17",
        "time_zone": SETTINGS.team_time_zone,
        "opt_out_line": "",
        "postal_address": "",
        "subscription_type_id": "",
        "consent_basis": "legitimate_interest",
    }


def _campaign_form_values(form: Any) -> dict[str, Any]:
    """The form as it was sent, to show it again."""
    values: dict[str, Any] = {
        k: str(form.get(k) or "") for k in _default_campaign_form() if k != "filters"
    }
    values["days"] = set(form.getlist("days"))
    values["filters"] = [
        {k: str(form.get(f"f{i}_{k}") or "") for k in ("object", "property", "operator", "value")}
        for i in range(FILTER_ROWS)
    ]
    return values


def _campaign_spec(form: Any) -> dict[str, Any]:
    """The form as the campaign API's JSON spec (app.js builds the same for the live preview);
    the model validates it, so numbers stay text here and a wrong one is named by its field."""

    def text(name: str) -> str:
        return str(form.get(name) or "").strip()

    filters = []
    for i in range(FILTER_ROWS):
        name = text(f"f{i}_property")
        if not name:
            continue
        operator = text(f"f{i}_operator") or "EQ"
        rule: dict[str, Any] = {
            "object": text(f"f{i}_object") or "contact",
            "property": name,
            "operator": operator,
        }
        value = text(f"f{i}_value")
        if operator in ("IN", "NOT_IN"):
            rule["values"] = [v.strip() for v in value.split(",") if v.strip()]
        elif operator not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            rule["value"] = value
        filters.append(rule)
    owner: dict[str, Any] = {"kind": text("owner_kind") or "contact_owner"}
    if owner["kind"] == "rep":
        owner["rep_email"] = text("owner_rep_email") or None
    return {
        "id": text("id"),
        "name": text("name"),
        "story": {
            "title": text("story_title"),
            "brief": text("story_brief"),
            "asset_ids": [a for a in re.split(r"[\s,]+", text("story_asset_ids")) if a],
        },
        "segment": {"list_id": text("segment_list_id") or None, "filters": filters},
        "owner_rule": owner,
        "limits": {k: text(k) for k in ("per_minute", "per_day", "per_company")},
        "schedule": {
            "days": [d.strip() for d in form.getlist("days") if d.strip()],
            "start_hour": text("start_hour"),
            "end_hour": text("end_hour"),
            "time_zone": text("time_zone"),
        },
        "compliance": {
            "opt_out_line": text("opt_out_line"),
            "postal_address": text("postal_address") or None,
            "subscription_type_id": text("subscription_type_id") or None,
            "consent_basis": text("consent_basis") or "legitimate_interest",
        },
    }


def _bound(response: flask.Response, binding: str) -> flask.Response:
    """The Google connect flow's binding cookie: only this browser may finish the flow."""
    response.set_cookie(
        _BINDING_COOKIE,
        binding,
        max_age=600,
        path=_BINDING_PATH,
        secure=True,
        httponly=True,
        samesite="Lax",
    )
    return response


def _hubspot_contacts() -> Any:
    from shared.adapters.hubspot import HubSpotContacts

    return HubSpotContacts.from_settings(SETTINGS, RUNTIME.secrets)


def _flag_changes(form: Any) -> dict[str, Any]:
    """Form fields (`quotas.mailbox_day`, ...) as the flags' nested changes."""
    changes: dict[str, Any] = {}
    for key, value in form.items():
        if key in ("csrf", "reason"):
            continue
        if key in ("auto_approve.sources", "auto_approve.lifecycle_stages", "nurture_days"):
            parsed: Any = [part.strip() for part in value.split(",") if part.strip()]
        elif value in ("true", "false"):
            parsed = value == "true"
        elif value.lstrip("-").isdigit():
            parsed = int(value)
        else:
            parsed = value
        head, _, tail = key.partition(".")
        if tail:
            changes.setdefault(head, {})[tail] = parsed
        else:
            changes[head] = parsed
    if "auto_approve" in changes:
        # an unticked box sends nothing
        changes["auto_approve"].setdefault("enabled", False)
        changes["auto_approve"].setdefault("nurture_only", False)
    return changes


def _login_page(error: str | None = None, status: int = 200) -> flask.Response:
    dev = SETTINGS.environment.value == "local"
    email = next(iter(SETTINGS.operator_emails), "") if dev else ""
    return _page("login.html", status, title="Sign in", dev_login=dev, dev_email=email, error=error)


def _sign_in(request: flask.Request, path: str) -> flask.Response:
    try:
        if path == "/login/dev":
            _, cookie = DOOR.sign_in_dev(request.form.get("email", ""))
        else:
            _, cookie = DOOR.sign_in_google(request.form.get("id_token", ""))
    except AppError as exc:
        if exc.http_status >= 500:
            raise
        return _login_page(exc.public_message, exc.http_status)
    response = _redirect("/")
    response.set_cookie(COOKIE, cookie, **cookie_options(DOOR))
    return response


# --- the JSON API ---------------------------------------------------------------------
def _api(request: flask.Request, path: str) -> Any:
    if path == "/api/connections/google/callback" and request.method == "GET":
        # Google sends the person's browser here: no bearer token, but the state (single use,
        # bound at start to the operator) and the browser's binding cookie must both match.
        result = API.google.callback(
            request.args.get("state"),
            request.args.get("code"),
            request.cookies.get(_BINDING_COOKIE),
            error=request.args.get("error"),
        )
        response = flask.make_response(flask.jsonify(result))
        response.delete_cookie(_BINDING_COOKIE, path=_BINDING_PATH)
        return _secured(response)
    who, role = _api_caller(request)
    refused = refusal(role, request.method, path)
    if refused is not None:  # the one role check for every API route; nothing has run yet
        raise Forbidden(refused)
    answer = _api_route(request, path, who, role)
    if isinstance(answer, flask.Response):
        return _secured(answer)
    body, status = answer if isinstance(answer, tuple) else (answer, 200)
    if role is not Role.ADMIN:
        body = redact(body, SECRET_NAMES)
    return _secured(flask.make_response(flask.jsonify(body), status))


def _api_caller(request: flask.Request) -> tuple[str, Role]:
    """A service account's bearer token (an admin: OPERATOR_API_CALLERS is set at deploy
    time), or a signed-in person's session (with CSRF) and the role they hold now."""
    if request.headers.get("Authorization"):
        caller = RUNTIME.verifier.verify(
            request.headers.get("Authorization"),
            audience=_AUDIENCE,
            allowed_emails=SETTINGS.operator_api_callers,
        )
        return caller.email, Role.ADMIN
    session = DOOR.session(request.cookies.get(COOKIE))
    if session is None:
        raise Unauthorized("sign in first")
    DOOR.check_csrf(session, request.method, request.headers, None)
    return session.email, session.role


def _api_route(request: flask.Request, path: str, who: str, role: Role) -> Any:
    method = request.method
    if path == "/api/flags" and method == "GET":
        return API.flags()
    if path == "/api/flags" and method == "PATCH":
        body = _json_body(request)
        changes = body.get("changes")
        if not isinstance(changes, dict) or not changes:
            raise BadRequest('body must be {"changes": {...}, "reason": "..."}')
        return API.change_flags(changes, who=who, reason=str(body.get("reason") or ""))
    if path == "/api/audit" and method == "GET":
        return API.audit(request.args.get("kind"), request.args.get("limit"))
    if path == "/api/queue" and method == "GET":
        return API.queue()
    if path == "/api/outcomes" and method == "GET":
        return plain(API.outcomes())
    if path == "/api/outcomes.csv" and method == "GET":
        return _csv(API.outcomes_csv(), "outcomes.csv")
    if path == "/api/health" and method == "GET":
        return plain(API.health())
    if path == "/api/connections/google/start" and method == "POST":
        hint = _json_body(request).get("login_hint")
        url, binding = API.google.start(who, login_hint=str(hint) if hint else None)
        return _bound(flask.make_response(flask.jsonify({"authorization_url": url})), binding)
    if (
        path.startswith("/api/connections/google/")
        and path.endswith("/disconnect")
        and method == "POST"
    ):
        email = path.removeprefix("/api/connections/google/").removesuffix("/disconnect")
        return API.google.disconnect(email, who)
    if path == "/api/connections" and method == "GET":
        return {"connections": plain(API.connections.overview())}
    if path == "/api/connections/openai" and method == "PUT":
        return API.connections.set_openai_key(_json_body(request).get("key"), who=who)
    if path == "/api/connections/openai" and method == "DELETE":
        return API.connections.remove_openai_key(who=who)
    if path == "/api/connections/hubspot" and method == "PUT":
        return API.connections.set_hubspot(_json_body(request), who=who)
    if path.startswith("/api/campaigns"):
        return _campaign_route(request, path, who, role)
    if path.startswith("/api/workflows/"):
        parts = path.removeprefix("/api/workflows/").split("/")
        workflow_id = parts[0]
        if len(parts) == 1 and method == "GET":
            return API.workflow(workflow_id)
        if len(parts) == 2 and method == "POST":
            return API.act(workflow_id, parts[1], _json_body(request), who=who, role=role)
    if path == "/api/overrides" and method == "POST":
        return API.set_override(_json_body(request), who=who)
    if path.startswith("/api/overrides/") and method == "DELETE":
        return API.revoke_override(
            path.removeprefix("/api/overrides/"), _json_body(request), who=who
        )
    if path == "/api/roles" and method == "GET":
        return plain(ROLES.listing())
    if path.startswith("/api/roles/") and method in ("PUT", "DELETE"):
        email = path.removeprefix("/api/roles/")
        body = _json_body(request)
        if method == "PUT":
            return ROLES.assign(email, body.get("role"), who=who, reason=body.get("reason"))
        return ROLES.remove(email, who=who, reason=body.get("reason"))
    if path == "/api/privacy/export" and method == "GET":
        return plain(API.privacy.export(str(request.args.get("email") or "")))
    if path in ("/api/suppressions", "/api/suppressions/lift") and method == "POST":
        body = _json_body(request)
        act = API.suppressions.lift if path.endswith("/lift") else API.suppressions.suppress
        return act(body.get("email"), who=who, reason=str(body.get("reason") or ""))
    if path == "/api/privacy/forget" and method == "POST":
        body = _json_body(request)
        return plain(
            API.privacy.forget(
                str(body.get("email") or ""), who=who, reason=str(body.get("reason") or "")
            )
        )
    raise NotFound("no such route")


def _campaign_route(request: flask.Request, path: str, who: str, role: Role) -> Any:
    method = request.method
    campaigns = API.campaigns
    if path == "/api/campaigns" and method == "GET":
        return {"campaigns": plain(campaigns.all())}
    if path == "/api/campaigns" and method == "POST":
        return plain(campaigns.create(_json_body(request), by=who))
    if path == "/api/campaigns/preview" and method == "POST":
        return plain(campaigns.preview(_json_body(request)))
    parts = path.removeprefix("/api/campaigns/").split("/")
    campaign_id = parts[0]
    if not re.fullmatch(r"[a-z0-9-]{3,40}", campaign_id):
        raise NotFound("no such campaign")
    if len(parts) == 1 and method == "GET":
        return plain(campaigns.get(campaign_id))
    if len(parts) == 2 and method == "POST":
        action = parts[1]
        if action == "approve":
            sampled = _json_body(request).get("sampled")
            return API.approve_campaign(campaign_id, sampled, who=who, role=role)
        steps = {
            "launch": campaigns.launch,
            "pause": campaigns.pause,
            "resume": campaigns.resume,
            "cancel": campaigns.cancel,
        }
        if action in steps:
            return plain(steps[action](campaign_id, by=who))
    raise NotFound("no such route")
