"""`make demo`: start the local stack with demo data, show every part answering, then play the
stories that have landed, narrated. `--keep` leaves the stack running until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
import urllib.request
from typing import Any

import grpc
import requests
from google.cloud import pubsub_v1, tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from devstack import seed
from devstack.stack import FUNCTIONS, GMAIL_TOPIC, LOCATION, QUEUES, DevStack, running_stack
from shared.domain.gmail_history import token_secret_name

BOLD, DIM, GREEN, RED, RESET = "\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m"


def say(text: str) -> None:
    print(f"\n{BOLD}{text}{RESET}", flush=True)


def row(ok: bool, what: str, detail: str) -> None:
    mark = f"{GREEN}✓{RESET}" if ok else f"{RED}✗{RESET}"
    print(f"  {mark} {what:<28} {DIM}{detail}{RESET}", flush=True)


def _tasks(stack: DevStack) -> tasks_v2.CloudTasksClient:
    channel = grpc.insecure_channel(stack.tasks.address)
    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))


def check_every_part(stack: DevStack) -> bool:
    """Each part of the stack, asked through the official client a function would use."""
    from hubspot import HubSpot

    from shared.adapters.gmail import GmailMailbox
    from shared.adapters.google_auth import user_credentials
    from shared.adapters.secrets import SecretStore
    from shared.adapters.store import Store

    results: list[tuple[bool, str, str]] = []

    def check(what: str, probe: Any) -> None:
        try:
            results.append((True, what, probe()))
        except Exception as exc:  # a demo reports every failure, then carries on
            results.append((False, what, f"{type(exc).__name__}: {exc}"))

    assert stack.firestore is not None
    assert stack.pubsub is not None
    store = Store(stack.project, emulator_host=stack.firestore.host)

    def firestore_probe() -> str:
        doc = store.db.document("demo/ping")
        doc.set({"at": time.time()})
        return f"{stack.firestore.host}: write and read back" if doc.get().exists else "?"

    check("Firestore emulator", firestore_probe)
    check(
        "Pub/Sub emulator",
        lambda: (
            f"{stack.pubsub.host}: topic "
            + pubsub_v1.PublisherClient()
            .get_topic(topic=f"projects/{stack.project}/topics/{GMAIL_TOPIC}")
            .name.rsplit("/", 1)[-1]
        ),
    )
    check(
        "Cloud Tasks (gRPC)",
        lambda: (
            f"{stack.tasks.address}: queues "
            + ", ".join(
                q.name.rsplit("/", 1)[-1]
                for q in _tasks(stack).list_queues(
                    parent=f"projects/{stack.project}/locations/{LOCATION}"
                )
            )
        ),
    )
    secrets = SecretStore(stack.project, stack.secrets.address)
    check(
        "Secret Manager (gRPC)",
        lambda: (
            f"{stack.secrets.address}: HubSpot secret "
            + ("readable" if secrets.read("hubspot-client-secret") else "empty")
        ),
    )
    check(
        "Token issuer",
        lambda: (
            f"{stack.issuer_server.url}: "
            f"{len(json.load(urllib.request.urlopen(stack.issuer_server.url + '/certs')))} key"
        ),
    )
    hubspot = HubSpot(
        access_token=secrets.read("hubspot-access-token"), host=stack.fake_url("hubspot")
    )
    check(
        "HubSpot fake",
        lambda: (
            f"{stack.fake_url('hubspot')}: "
            f"{len(hubspot.crm.contacts.basic_api.get_page(limit=100).results)} contacts, "
            f"{len(hubspot.crm.owners.owners_api.get_page().results)} owner"
        ),
    )
    oauth = stack.fakes["oauth"][0]
    mailbox = GmailMailbox(
        user_credentials(
            secrets.read(token_secret_name(seed.REP_EMAIL)),
            client_id=oauth.client_id or "demo-client",
            client_secret=oauth.client_secret or "demo-secret",
            token_uri=f"{stack.fake_url('oauth')}/token",
        ),
        endpoint=stack.fake_url("gmail"),
    )
    check(
        "Gmail fake (+ OAuth fake)",
        lambda: (
            f"{stack.fake_url('gmail')}: {mailbox.profile()['messagesTotal']} messages "
            f"for {seed.REP_EMAIL}, token refreshed"
        ),
    )

    def openai_probe() -> str:
        from openai import OpenAI

        client = OpenAI(api_key="sk-local-demo", base_url=f"{stack.fake_url('openai')}/v1")
        vector = client.embeddings.create(model="text-embedding-3-small", input="hello")
        return f"{stack.fake_url('openai')}: embedding of {len(vector.data[0].embedding)} dims"

    check("OpenAI fake", openai_probe)
    for name in FUNCTIONS:
        url = stack.function_url(name)
        check(
            f"function {name}",
            lambda url=url: f"{url}: " + requests.get(f"{url}/health", timeout=5).json()["status"],
        )
    for ok, what, detail in results:
        row(ok, what, detail)
    return all(ok for ok, _, _ in results)


def story_hubspot_lead(stack: DevStack) -> bool:
    """A demo form submission reaches the running webhook, signed as HubSpot signs it."""
    from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
    from shared.adapters.store import Store

    assert stack.firestore is not None
    dana = seed.PROSPECTS[0]
    queue = f"projects/{stack.project}/locations/{LOCATION}/queues/draft"
    _tasks(stack).pause_queue(name=queue)
    say("Story: a prospect fills in the demo-request form on the website")
    print(f"  HubSpot posts the form to hubspot_webhook, signed (v3) for {dana.email}.")
    url = stack.function_url("hubspot_webhook") + "/"
    body = body_of(form_submission(dana.contact_id, dana.email))
    headers = signed_headers(body, secret=seed.HUBSPOT_CLIENT_SECRET, uri=url)
    started = time.perf_counter()
    answer = requests.post(url, data=body, headers=headers, timeout=10)
    elapsed = (time.perf_counter() - started) * 1000
    print(f"  → {answer.status_code} in {elapsed:.0f} ms: {answer.json()['outcomes']}")
    print("  HubSpot retries deliveries; the same delivery arrives twice more:")
    for _ in range(2):
        again = requests.post(url, data=body, headers=headers, timeout=10)
        print(f"  → {again.status_code}: {again.json()['outcomes']}")
    forged = dict(headers, **{"X-HubSpot-Signature-v3": "Zm9yZ2Vk"})
    refused = requests.post(url, data=body, headers=forged, timeout=10)
    print(f"  A forged copy → {refused.status_code}: {refused.json()['error']}")
    store = Store(stack.project, emulator_host=stack.firestore.host)
    workflows = [d.to_dict() for d in store.db.collection("workflows").stream()]
    queued = [t.name.rsplit("/", 1)[-1] for t in _tasks(stack).list_tasks(parent=queue)]
    for workflow in workflows:
        print(
            f"  Workflow {workflow['id']}: state {workflow['state']}, source "
            f"{workflow['source']}, contact {workflow['contact_email']}"
        )
    print(f"  Draft tasks queued: {queued} (held until the draft story below)")
    ok = answer.status_code == 200 and len(workflows) == 1 and len(queued) == 1
    row(ok, "one lead → one workflow", f"{len(workflows)} workflow, {len(queued)} draft task")
    return ok


def story_gmail_reply(stack: DevStack) -> bool:
    """Dana answers by email: Gmail → Pub/Sub → gmail_push, routed onto her workflow."""
    from devstack.fakes import make_message
    from shared.adapters.store import Store

    assert stack.firestore is not None
    dana = seed.PROSPECTS[0]
    gmail = stack.fakes["gmail"][0]
    stack.publish_gmail_notifications()
    say("Story: the prospect replies by email")
    reply = make_message(
        f"{dana.first} {dana.last} <{dana.email}>",
        seed.REP_EMAIL,
        "Re: Your demo request",
        "Hi Maya,\n\nThanks for getting back to me. Could we do a 30 minute call on "
        "Thursday? I'd like to see how the forecasts handle our seasonal peaks.\n\n"
        "Dana\n\nOn Mon, Maya Chen wrote:\n> Thanks for your interest in Brightline!",
    )
    gmail.deliver(seed.REP_EMAIL, reply)
    newsletter = make_message(
        "Logistics Weekly <news@logistics-weekly.example>",
        seed.REP_EMAIL,
        "This week in logistics",
        "Top stories...",
        headers={"List-Unsubscribe": "<https://logistics-weekly.example/u>"},
    )
    gmail.deliver(seed.REP_EMAIL, newsletter)
    print(f"  Dana's reply and a newsletter land in {seed.REP_EMAIL}'s inbox.")
    print("  Gmail's watch publishes to Pub/Sub; the push (OIDC-signed) reaches gmail_push.")
    store = Store(stack.project, emulator_host=stack.firestore.host)
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = [d.to_dict() for d in store.db.collection("gmail_messages").stream()]
        if len(messages) >= 2:
            break
        time.sleep(0.2)
    for message in sorted(messages, key=lambda m: m["recorded_at"]):
        intent = message.get("intent") or {}
        print(
            f"  {message['from']['email']:<36} → {message['route']}"
            + (f" (intent {intent['intent']}, {intent['source']})" if intent else "")
            + f": {'; '.join(message['reasons'][:1])}"
        )
    workflows = [d.to_dict() for d in store.db.collection("workflows").stream()]
    for workflow in workflows:
        print(
            f"  Workflow {workflow['id']}: state {workflow['state']}, version "
            f"{workflow['version']} (the reply joined the lead's open workflow)"
        )
    queue = f"projects/{stack.project}/locations/{LOCATION}/queues/draft"
    queued = sorted(t.name.rsplit("/", 1)[-1] for t in _tasks(stack).list_tasks(parent=queue))
    print(f"  Draft tasks queued: {queued}")
    mailbox = store.db.collection("mailboxes").document(seed.REP_EMAIL).get().to_dict() or {}
    print(
        f"  Mailbox cursor: historyId {mailbox.get('history_id')} "
        f"(Gmail is at {gmail.history_id(seed.REP_EMAIL)})"
    )
    routes = sorted(m["route"] for m in messages)
    ok = (
        routes == ["newsletter", "prospect_reply"]
        and len(workflows) == 1
        and workflows[0]["version"] == 2
        and len(queued) == 2
    )
    row(ok, "reply routed onto workflow", f"{len(messages)} messages, routes {routes}")
    return ok


def story_voice_training(stack: DevStack) -> bool:
    """Maya trains her voice from a PDF, a text file, a Drive doc, a YouTube talk and a
    HubSpot note, through the voice API as the operator page will call it."""
    from devstack.stack import OPERATOR_ACCOUNT

    say("Story: Maya trains her voice from samples of several kinds")
    url = stack.function_url("voice")
    token = stack.issuer.sign(url, OPERATOR_ACCOUNT)
    auth = {"Authorization": f"Bearer {token}"}
    rep = seed.REP_EMAIL
    drive = stack.fakes["drive"][0]
    doc = drive.add_file(
        rep, "Objection handling notes", "application/vnd.google-apps.document", seed.VOICE_DOC
    )
    youtube = stack.fakes["youtube"][0]
    youtube.add_video("bRtLn3Fc9kQ", "Maya at RetailOps 2026", transcripts={"en": seed.TALK})
    hubspot = stack.fakes["hubspot"][0]
    hubspot.create(
        "notes",
        {
            "hs_note_body": seed.HUBSPOT_NOTE,
            "hs_timestamp": "2026-11-02T09:00:00Z",
            "hubspot_owner_id": seed.OWNER_ID,
        },
        associations=[("contacts", 701)],
    )
    submissions = [
        (
            "upload",
            {
                "files": {"file": ("reply-to-lena.txt", seed.PAST_REPLY.encode(), "text/plain")},
                "data": {"rep": rep},
            },
        ),
        (
            "upload",
            {
                "files": {"file": ("pricing-faq.pdf", seed.pdf_sample(), "application/pdf")},
                "data": {"rep": rep},
            },
        ),
        (
            "drive",
            {"json": {"rep": rep, "value": f"https://docs.google.com/document/d/{doc}/edit"}},
        ),
        ("youtube", {"json": {"rep": rep, "value": "https://youtu.be/bRtLn3Fc9kQ"}}),
        (
            "hubspot",
            {"json": {"rep": rep, "source": "hubspot", "object_type": "contact", "value": "701"}},
        ),
        ("link", {"json": {"rep": rep, "value": "https://169.254.169.254/computeMetadata/v1/"}}),
    ]
    ids = []
    for kind, request in submissions:
        answer = requests.post(f"{url}/samples", headers=auth, timeout=30, **request)
        ids.append(answer.json()["sample"]["id"])
        print(f"  POST /samples ({kind}) → {answer.status_code}")
    deadline = time.monotonic() + 60
    samples: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        samples = requests.get(
            f"{url}/samples", params={"rep": rep}, headers=auth, timeout=30
        ).json()["samples"]
        if len(samples) == len(ids) and all(s["status"] != "pending" for s in samples):
            break
        time.sleep(0.5)
    for sample in sorted(samples, key=lambda s: s["source_type"]):
        detail = sample["error"] or f"{sample['extracted_chars']} characters"
        kind, status, title = sample["source_type"], sample["status"], sample["title"][:40]
        print(f"  {kind:<8} {status:<8} {title:<40} {detail}")
    profile: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = requests.get(f"{url}/profile", params={"rep": rep}, headers=auth, timeout=30)
        if answer.status_code == 200:
            profile = answer.json()["profile"]
            if profile.get("samples") == 5:
                break
        time.sleep(0.5)
    print(
        f"  Voice profile v{profile.get('version')} from {profile.get('samples')} samples "
        f"({profile.get('guide_source')}):"
    )
    for line in str(profile.get("guide", "")).splitlines():
        print(f"    {line}")
    ready = [s for s in samples if s["status"] == "ready"]
    refused = [s for s in samples if s["source_type"] == "link" and s["status"] == "failed"]
    ok = len(ready) == 5 and len(refused) == 1 and profile.get("samples") == 5
    row(ok, "voice trained", f"{len(ready)} samples ready, metadata-server link refused")
    return ok


def story_assets(stack: DevStack) -> bool:
    """The team's Drive folder is indexed; the asset hunter picks what Dana's reply needs."""
    from devstack.stack import OPERATOR_ACCOUNT

    say("Story: the team's sales material in Drive becomes the asset library")
    url = stack.function_url("voice")
    auth = {"Authorization": f"Bearer {stack.issuer.sign(url, OPERATOR_ACCOUNT)}"}
    drive = stack.fakes["drive"][0]
    rep = seed.REP_EMAIL
    folder = drive.add_folder(rep, "Brightline sales material")
    for title, mime, content in seed.sales_material():
        drive.add_file(rep, title, mime, content, parents=[folder])
    answer = requests.post(
        f"{url}/assets/sources",
        json={"folder": f"https://drive.google.com/drive/folders/{folder}", "account": rep},
        headers=auth,
        timeout=30,
    )
    print(f"  POST /assets/sources (Drive folder) → {answer.status_code}")
    deadline = time.monotonic() + 60
    assets: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        assets = requests.get(f"{url}/assets", headers=auth, timeout=30).json()["assets"]
        if len(assets) >= 3 and all(a["status"] != "pending" for a in assets):
            break
        time.sleep(0.5)
    for asset in assets:
        print(f"  {asset['status']:<8} {asset['title']:<36} {asset['passages']} passages")
    tags = {
        "Northwind retail case study": {"industry": ["retail"], "approved": True},
        "Healthcare security one-pager": {"industry": ["healthcare"], "approved": True},
        "Pricing sheet": {"approved": True},
    }
    for asset in assets:
        if asset["title"] in tags:
            requests.patch(
                f"{url}/assets/{asset['id']}", json=tags[asset["title"]], headers=auth, timeout=30
            )
    print("  The operator approves all three for external use and tags their industries.")
    stack.tasks.wait_idle(30)
    question = "Could we see how the forecasts handle our seasonal peaks?"
    hits = requests.post(
        f"{url}/assets/search",
        json={"text": question, "industry": "retail"},
        headers=auth,
        timeout=30,
    ).json()["hits"]
    print(f'  Asset hunter for Dana\'s "{question}" (retail):')
    for hit in hits:
        print(f"    {hit['score']:.2f}  {hit['citation']}  {hit['link']}")
    ok = bool(hits) and hits[0]["title"] == "Northwind retail case study"
    row(
        ok,
        "asset library",
        f"{len(assets)} assets indexed, top hit: {hits[0]['title'] if hits else '-'}",
    )
    return ok


def story_draft(stack: DevStack) -> bool:
    """The held draft tasks run: Dana's workflow gets a gated draft in her Gmail thread."""
    import base64
    from email import message_from_bytes, policy

    from shared.adapters.store import Store

    assert stack.firestore is not None
    say("Story: the draft task writes Dana a reply in Maya's voice (offline drafter)")
    queue = f"projects/{stack.project}/locations/{LOCATION}/queues/draft"
    _tasks(stack).resume_queue(name=queue)
    print("  The draft queue is released; the stale version-1 task skips itself.")
    store = Store(stack.project, emulator_host=stack.firestore.host)
    deadline = time.monotonic() + 60
    workflow: dict[str, Any] = {}
    while time.monotonic() < deadline:
        workflows = [d.to_dict() or {} for d in store.db.collection("workflows").stream()]
        workflow = workflows[0] if workflows else {}
        if workflow.get("state") not in (None, "queued", "drafting"):
            break
        time.sleep(0.5)
    draft = workflow.get("draft") or {}
    gate = draft.get("gate") or {}
    print(
        f"  Workflow {workflow.get('id')}: {workflow.get('state')} "
        f"(gate: {gate.get('verdict')}, risk {gate.get('risk')})"
    )
    print(f"  Context it drew on: {', '.join(draft.get('context_ids') or [])}")
    for check in gate.get("checks") or []:
        mark = "ok" if check.get("passed") else check.get("severity")
        reasons = "; ".join(check.get("reasons") or [])[:100]
        print(f"    gate {check.get('name'):<16} {mark:<6} {reasons}")
    drafts = stack.fakes["gmail"][0].drafts(seed.REP_EMAIL)
    for item in drafts:
        raw = item["message"]["raw"]
        if isinstance(raw, str):
            raw = base64.urlsafe_b64decode(raw + "==")
        message = message_from_bytes(raw, policy=policy.default)
        print(f"  Gmail draft in thread {item['message']['threadId']}: To {message['To']}")
        print(f"  Subject: {message['Subject']}")
        for line in message.get_body(("plain",)).get_content().splitlines():
            print(f"    | {line}")
    tasks = [t for t in stack.fakes["hubspot"][0].objects("tasks") if "Review draft" in str(t)]
    print(f"  HubSpot: {len(tasks)} review task for the owner, with a note of the draft")
    ok = len(drafts) == 1 and workflow.get("state") in ("awaiting_approval", "needs_input")
    row(ok, "draft in Gmail", f"{len(drafts)} draft, state {workflow.get('state')}")
    return ok


def story_connect(stack: DevStack) -> bool:
    """Maya connects her mailbox from the operator page: Google's consent (the OAuth fake)."""
    from urllib.parse import parse_qs, urlparse

    import requests

    from devstack.stack import OPERATOR_ACCOUNT

    say("Story: Maya connects her Google account (Gmail, Drive, Calendar) from the page")
    url = stack.function_url("operator")
    headers = {"Authorization": f"Bearer {stack.issuer.sign(url, OPERATOR_ACCOUNT)}"}
    started = requests.post(
        f"{url}/api/connections/google/start",
        json={"login_hint": seed.REP_EMAIL},
        headers=headers,
        timeout=30,
    )
    consent_url = started.json()["authorization_url"]
    query = parse_qs(urlparse(consent_url).query)
    scopes = ", ".join(scope.rsplit("/", 1)[-1] for scope in query["scope"][0].split())
    print(f"  Google consent asks for: {scopes}")
    print(f"  with PKCE ({query['code_challenge_method'][0]}), offline access, prompt=consent")
    stack.fakes["oauth"][0].set_consent(seed.REP_EMAIL)
    consent = requests.get(consent_url, allow_redirects=False, timeout=30)
    back = requests.get(
        consent.headers["Location"],
        cookies={"sa_oauth_binding": started.cookies.get("sa_oauth_binding") or ""},
        timeout=30,
    )
    result = back.json()
    overview = requests.get(f"{url}/api/connections", headers=headers, timeout=30).json()
    mailbox = next(iter(overview["connections"]["mailboxes"]), {})
    print(
        f"  Callback: {result.get('email')} {result.get('status')}; the refresh token is in "
        "Secret Manager only; the watch is on"
    )
    print(f"  Drafting mode: {overview['connections']['openai']['mode']}")
    ok = back.status_code == 200 and mailbox.get("status") == "connected"
    row(ok, "mailbox connected", f"{mailbox.get('email')}: {mailbox.get('status')}")
    return ok


def story_send(stack: DevStack) -> bool:
    """The operator turns sending on, approves Dana's draft; the send task sends it once."""
    import requests

    from devstack.stack import OPERATOR_ACCOUNT
    from shared.adapters.store import Store

    assert stack.firestore is not None
    say("Story: Maya's team approves the draft; it is sent once, logged, and followed up")
    url = stack.function_url("operator")
    token = stack.issuer.sign(url, OPERATOR_ACCOUNT)
    headers = {"Authorization": f"Bearer {token}"}
    flags = requests.patch(
        f"{url}/api/flags",
        json={"changes": {"mode": "SEND_ALLOWED"}, "reason": "demo: the team trusts the drafts"},
        headers=headers,
        timeout=30,
    ).json()
    print(f"  Send mode: {flags['flags']['mode']} (audited: {flags['changed'][0]})")
    store = Store(stack.project, emulator_host=stack.firestore.host)
    workflow_id = next(
        (
            d.id
            for d in store.db.collection("workflows").stream()
            if (d.to_dict() or {}).get("draft")
        ),
        None,
    )
    if workflow_id is None:
        row(False, "send", "no drafted workflow to approve")
        return False
    shown = requests.get(f"{url}/api/workflows/{workflow_id}", headers=headers, timeout=30).json()
    approval = requests.post(
        f"{url}/api/workflows/{workflow_id}/approve",
        json={"content_hash": shown["gmail_draft"]["content_hash"]},
        headers=headers,
        timeout=30,
    ).json()["approval"]
    print(
        f"  Approved by {approval['by']} for content {approval['hash'][:12]}…; "
        f"the send waits out the undo window until {approval['send_after'][11:19]} UTC"
    )
    deadline = time.monotonic() + 60
    workflow: dict[str, Any] = {}
    while time.monotonic() < deadline:
        workflow = store.db.collection("workflows").document(workflow_id).get().to_dict() or {}
        if (workflow.get("send") or {}).get("effects_done"):
            break
        time.sleep(0.5)
    send = workflow.get("send") or {}
    sent = [m for m in stack.fakes["gmail"][0].sent(seed.REP_EMAIL) if "dana@" in str(m.get("to"))]
    print(f"  Gmail: {len(sent)} message in Sent to {sent[0]['to'] if sent else '?'}")
    print(f"    Message-ID {send.get('message_id')} (searched before any retry)")
    hubspot = stack.fakes["hubspot"][0]
    emails = [e for e in hubspot.objects("emails") if workflow_id in str(e)]
    contact = hubspot.get("contacts", seed.PROSPECTS[0].contact_id) or {}
    print(
        f"  HubSpot: {len(emails)} email on Dana's timeline (contact, company, deal), "
        f"lead status {contact.get('properties', {}).get('hs_lead_status')}, review task done"
    )
    pending = (workflow.get("nurture") or {}).get("pending") or {}
    due = pending.get("at")
    print(
        f"  Follow-up {pending.get('step')} scheduled for "
        f"{due.strftime('%A %d %B %H:%M UTC') if due else '?'} (cancelled if Dana answers)"
    )
    audit = requests.get(f"{url}/api/audit", headers=headers, timeout=30).json()["entries"]
    print("  Audit log: " + ", ".join(e["kind"] for e in reversed(audit)))
    ok = len(sent) == 1 and workflow.get("state") == "waiting_reply" and len(emails) == 1
    row(ok, "sent once", f"{len(sent)} sent, state {workflow.get('state')}, follow-up queued")
    return ok


def story_campaign(stack: DevStack) -> bool:
    """The Northwind case study goes to a retail segment: one personal draft per contact."""
    from devstack.stack import OPERATOR_ACCOUNT

    say("Story: the new Northwind case study is pitched to retail leads, one note each")
    url = stack.function_url("operator")
    headers = {"Authorization": f"Bearer {stack.issuer.sign(url, OPERATOR_ACCOUNT)}"}
    hubspot = stack.fakes["hubspot"][0]
    people = [
        ("Priya", "Shah", "Harbour Grocers", "ops@harbourgrocers.example", {}),
        ("Tom", "Okafor", "Harbour Grocers", "tom@harbourgrocers.example", {}),
        ("Lena", "Berg", "Fjord Outfitters", "lena@fjordoutfitters.example", {}),
        ("Marco", "Rossi", "Via Verde Markets", "marco@viaverde.example", {}),
        ("Ana", "Lima", "Via Verde Markets", "ana@viaverde.example", {"hs_email_optout": "true"}),
        ("Sam", "Lee", "Corner Pantry", "sam@cornerpantry.example", {}),
    ]
    companies: dict[str, str] = {}
    for first, last, company, email, extra in people:
        if company not in companies:
            companies[company] = hubspot.create(
                "companies", {"name": company, "industry": "Retail", "country": "United Kingdom"}
            )["id"]
        hubspot.create(
            "contacts",
            {
                "email": email,
                "firstname": first,
                "lastname": last,
                "lifecyclestage": "lead",
                "hubspot_owner_id": seed.OWNER_ID,
                **extra,
            },
            associations=[("companies", companies[company])],
        )
    voice = stack.function_url("voice")
    voice_auth = {"Authorization": f"Bearer {stack.issuer.sign(voice, OPERATOR_ACCOUNT)}"}
    assets = requests.get(f"{voice}/assets", headers=voice_auth, timeout=30).json()["assets"]
    study = [a["id"] for a in assets if a["title"] == "Northwind retail case study"]
    spec = {
        "id": "northwind-retail",
        "name": "Northwind case study to retail leads",
        "story": {
            "title": "How Northwind plans for seasonal peaks",
            "brief": "Northwind, a retail chain, now forecasts its seasonal peaks weeks ahead "
            "with Brightline and stocks accordingly. Relevant to retail operations leads.",
            "asset_ids": study,
        },
        "segment": {
            "filters": [
                {
                    "object": "contact",
                    "property": "lifecyclestage",
                    "operator": "EQ",
                    "value": "lead",
                },
                {"object": "company", "property": "industry", "operator": "EQ", "value": "Retail"},
            ]
        },
        "limits": {"per_minute": 10, "per_day": 100, "per_company": 1},
        "schedule": {
            "days": [0, 1, 2, 3, 4, 5, 6],
            "start_hour": 0,
            "end_hour": 24,
            "time_zone": "UTC",
        },
        "compliance": {
            "opt_out_line": "Not relevant? Reply 'unsubscribe' and I won't write again.",
            "postal_address": "Brightline Analytics, 1 Harbour St, Leith EH6 6QL, UK",
        },
    }
    preview = requests.post(f"{url}/api/campaigns/preview", json=spec, headers=headers, timeout=60)
    shown = preview.json()
    print(f"  Segment: retail leads → {shown['count']} in, {shown['excluded_count']} left out")
    for person in shown["included"]:
        print(f"    in   {person['email']:<32} {'; '.join(person['why_in'])}")
    for person in shown["excluded"]:
        print(f"    out  {person['email']!s:<32} {person['why_not']}")
    requests.post(f"{url}/api/campaigns", json=spec, headers=headers, timeout=30)
    requests.post(f"{url}/api/campaigns/northwind-retail/launch", headers=headers, timeout=30)
    deadline = time.monotonic() + 90
    progress: dict[str, Any] = {}
    while time.monotonic() < deadline:
        campaign = requests.get(
            f"{url}/api/campaigns/northwind-retail", headers=headers, timeout=30
        ).json()
        progress = campaign["progress"]
        workflows = progress.get("workflows") or {}
        if campaign["state"] == "done" and not workflows.get("drafting"):
            break
        time.sleep(0.5)
    print(f"  Progress: {progress.get('members')} members, workflows {progress.get('workflows')}")
    drafts = [
        d
        for d in stack.fakes["gmail"][0].drafts(seed.REP_EMAIL)
        if "seasonal" in str(d["message"].get("subject")).lower()
        or "northwind" in str(d["message"].get("body")).lower()
    ]
    if drafts:
        message = drafts[0]["message"]
        print(
            f"  One of {len(drafts)} Gmail drafts: To {message['to']}, Subject {message['subject']}"
        )
        for line in str(message["body"]).strip().splitlines():
            print(f"    | {line}")
    ok = shown["count"] == 4 and len(drafts) == 4
    row(ok, "campaign", f"{len(drafts)} personal drafts for {shown['count']} eligible leads")
    return ok


def story_privacy(stack: DevStack) -> bool:
    """Lena, one of the campaign's leads, asks to be forgotten: her export first, then the
    erasure, and she stays out when HubSpot mentions her again."""
    from devstack.hubspot_webhooks import body_of, form_submission, signed_headers
    from devstack.stack import OPERATOR_ACCOUNT

    say("Story: a lead asks what we hold about her, then to be forgotten")
    url = stack.function_url("operator")
    headers = {"Authorization": f"Bearer {stack.issuer.sign(url, OPERATOR_ACCOUNT)}"}
    email = "lena@fjordoutfitters.example"
    export = requests.get(
        f"{url}/api/privacy/export", params={"email": email}, headers=headers, timeout=60
    ).json()
    held = {name: len(records) for name, records in export.get("records", {}).items()}
    print(f"  Export for {email}: " + ", ".join(f"{n} {k}" for k, n in sorted(held.items())))
    drafts_before = len(stack.fakes["gmail"][0].drafts(seed.REP_EMAIL))
    answer = requests.post(
        f"{url}/api/privacy/forget",
        json={"email": email, "reason": "demo: Lena asked by email to be forgotten"},
        headers=headers,
        timeout=120,
    ).json()
    print(
        f"  Forgotten in {answer.get('seconds')} s: deleted {answer.get('deleted')}, "
        f"Gmail drafts deleted {answer.get('gmail_drafts_deleted')}, HubSpot records "
        f"archived {answer.get('hubspot_records_archived')}, "
        f"mentions left {answer.get('remaining_mentions')}"
    )
    drafts_after = len(stack.fakes["gmail"][0].drafts(seed.REP_EMAIL))
    print(f"  Audit: one record, pseudonym {str(answer.get('subject'))[:16]}…, no address")
    contact = next(
        (c for c in stack.fakes["hubspot"][0].objects("contacts") if email in str(c)), None
    )
    opened: list[Any] = ["?"]
    if contact is not None:
        body = body_of(form_submission(int(contact["id"]), email, conversion_id="lena-again"))
        again = requests.post(
            stack.function_url("hubspot_webhook") + "/",
            data=body,
            headers=signed_headers(
                body,
                secret=seed.HUBSPOT_CLIENT_SECRET,
                uri=stack.function_url("hubspot_webhook") + "/",
            ),
            timeout=30,
        )
        opened = again.json().get("opened", ["?"])
        print(f"  She fills in a form again: workflows opened {opened} (suppressed by hash)")
    ok = (
        answer.get("remaining_mentions") == 0 and drafts_after == drafts_before - 1 and opened == []
    )
    row(ok, "forgotten", f"{drafts_before - drafts_after} draft removed, nothing of hers left")
    return ok


def story_operations(stack: DevStack) -> bool:
    """What the person on call sees: the health report, then the post-deploy smoke check run
    against this local stack."""
    import importlib.util
    import sys

    from devstack.stack import OPERATOR_ACCOUNT, ROOT

    say("Story: the health report and the post-deploy smoke check")
    url = stack.function_url("operator")
    token = stack.issuer.sign(url, OPERATOR_ACCOUNT)
    report = requests.get(
        f"{url}/api/health", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()
    for box in report["mailboxes"]:
        print(f"  Mailbox {box['email']}: {box['status']}, last sync {box['last_sync_at']}")
    for queue in report["queues"].values():
        waiting, late = queue.get("waiting"), queue.get("overdue")
        print(f"  Queue {queue['queue']}: {waiting} waiting, {late} late")
    spend = report["llm_spend_today"]
    print(f"  LLM spend today: {spend.get('cost_usd', 0):.4f} of {spend['budget_usd']} USD")
    print(f"  Needs a person: {report['attention'] or 'nothing'}")
    spec = importlib.util.spec_from_file_location("smoke", ROOT / "terraform" / "smoke.py")
    assert spec is not None
    assert spec.loader is not None
    smoke = importlib.util.module_from_spec(spec)
    sys.modules["smoke"] = smoke
    spec.loader.exec_module(smoke)
    result = smoke.run(
        {name: stack.function_url(name) for name in FUNCTIONS},
        local=True,
        hubspot_secret=seed.HUBSPOT_CLIENT_SECRET,
        webhook_public_url=stack.function_url("hubspot_webhook") + "/",
        token=token,
    )
    for line in result.text().splitlines():
        print(f"    {line}")
    ok = not result.failed
    row(ok, "smoke check", "every function answers; strangers and forgeries refused")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args()
    say("Starting the local stack (emulators, Cloud Tasks, Secret Manager, fakes, functions)")
    started = time.perf_counter()
    with running_stack(project="demo-local") as stack:
        stack.start_functions()
        print(f"  up in {time.perf_counter() - started:.1f} s")
        seed.seed(stack, connect=False)
        ok = story_connect(stack)
        say("Every part answers")
        ok = check_every_part(stack) and ok
        ok = story_hubspot_lead(stack) and ok
        ok = story_gmail_reply(stack) and ok
        ok = story_voice_training(stack) and ok
        ok = story_assets(stack) and ok
        ok = story_draft(stack) and ok
        ok = story_send(stack) and ok
        ok = story_campaign(stack) and ok
        ok = story_privacy(stack) and ok
        ok = story_operations(stack) and ok
        say("Demo " + ("finished: everything worked." if ok else "found a problem (✗ above)."))
        print(
            f"Operator page: {stack.function_url('operator')}/login "
            f"(development login: {seed.REP_EMAIL}; with --keep it stays up)"
        )
        if args.keep:
            print("The stack keeps running; Ctrl-C stops it.")
            stop = threading.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            stop.wait()
        print(f"Queues: {', '.join(QUEUES)}. Stopping everything.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
