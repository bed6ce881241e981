"""The operator page over HTTP: sign-in, CSRF, security headers, and untrusted email content
rendered inert."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from devstack import seed
from tests.functions.team_support import Team

pytestmark = pytest.mark.stack
REP = seed.REP_EMAIL
DANA = seed.PROSPECTS[0]


class Browser:
    """A signed-in person: the session cookie, and the CSRF token the pages carry."""

    def __init__(self, team: Team) -> None:
        self.base = team.servers["operator"].url
        self.http = requests.Session()

    def sign_in(self, email: str = REP) -> requests.Response:
        return self.http.post(
            f"{self.base}/login/dev", data={"email": email}, allow_redirects=False, timeout=30
        )

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", allow_redirects=False, timeout=30)

    def csrf(self, path: str = "/") -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.get(path).text)
        assert found, "every page carries the CSRF token in its forms"
        return found.group(1)

    def post(self, path: str, data: dict[str, Any], **headers: str) -> requests.Response:
        return self.http.post(
            f"{self.base}{path}", data=data, headers=headers, allow_redirects=False, timeout=30
        )


def _cookie_jar_accepts_insecure(browser: Browser) -> None:
    """requests keeps `Secure` cookies for https only; the local page is http."""
    for cookie in browser.http.cookies:
        cookie.secure = False


PAGES = [
    "/",
    "/queue",
    "/queue/wf-x",
    "/workflows",
    "/workflows/wf-x",
    "/voice",
    "/flags",
    "/connections",
    "/outcomes",
]
POSTS = [
    "/queue/wf-x/approve",
    "/flags",
    "/voice/upload",
    "/voice/links",
    "/voice/retrain",
    "/connections/openai",
    "/connections/google",
    "/logout",
]
API_ROUTES = [
    ("GET", "/api/flags"),
    ("PATCH", "/api/flags"),
    ("GET", "/api/audit"),
    ("GET", "/api/queue"),
    ("GET", "/api/workflows/wf-x"),
    ("POST", "/api/workflows/wf-x/approve"),
    ("GET", "/api/connections"),
    ("PUT", "/api/connections/openai"),
    ("DELETE", "/api/connections/openai"),
    ("PUT", "/api/connections/hubspot"),
    ("POST", "/api/connections/google/start"),
    ("POST", f"/api/connections/google/{REP}/disconnect"),
]


def test_every_route_refuses_a_stranger_and_changes_nothing(team: Team):
    base = team.servers["operator"].url
    before = team.api("GET", "/api/flags").json()
    for path in PAGES:
        answer = requests.get(base + path, allow_redirects=False, timeout=30)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].endswith("/login"), path
    for path in POSTS:
        answer = requests.post(
            base + path, data={"kill_switch": "true"}, allow_redirects=False, timeout=30
        )
        assert answer.status_code == 303, path
        assert answer.headers["Location"].endswith("/login"), path
    for method, path in API_ROUTES:
        answer = requests.request(method, base + path, json={}, timeout=30)
        assert answer.status_code == 401, (method, path)
    assert team.api("GET", "/api/flags").json() == before
    mailbox = team.db.collection("mailboxes").document(REP).get().to_dict()
    assert mailbox["status"] == "connected"


def test_pages_need_a_sign_in_and_the_api_says_401(team: Team):
    stranger = Browser(team)
    page = stranger.get("/queue")
    api = stranger.get("/api/queue")

    assert page.status_code == 303
    assert page.headers["Location"].endswith("/login")
    assert api.status_code == 401
    refused = stranger.sign_in("mallory@evil.example")
    assert refused.status_code == 401
    assert "sa_session" not in refused.cookies


def test_every_answer_carries_the_security_headers(browser: Browser):
    for path in (
        "/",
        "/queue",
        "/workflows",
        "/flags",
        "/connections",
        "/outcomes",
        "/voice",
        "/login",
        "/ui/app.css",
        "/api/flags",
    ):
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text[:200])
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        assert "max-age" in answer.headers["Strict-Transport-Security"]


def test_the_session_cookie_is_secure_httponly_and_samesite(team: Team):
    answer = Browser(team).sign_in()
    header = answer.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "Secure" in header
    assert "SameSite=Lax" in header


def test_a_state_change_without_the_csrf_token_or_from_another_site_is_refused(
    browser: Browser, team: Team
):
    without = browser.post("/flags", {"kill_switch": "true", "reason": "x"})
    token = browser.csrf("/flags")
    cross = browser.post(
        "/flags",
        {"kill_switch": "true", "reason": "x", "csrf": token},
        Origin="https://evil.example",
    )
    api = browser.http.patch(
        f"{browser.base}/api/flags",
        json={"changes": {"kill_switch": True}, "reason": "x"},
        timeout=30,
    )

    assert without.status_code == 403
    assert cross.status_code == 403
    assert api.status_code == 403
    assert team.api("GET", "/api/flags").json()["flags"]["kill_switch"] is False

    flipped = browser.post("/flags", {"kill_switch": "true", "reason": "incident", "csrf": token})

    assert flipped.status_code == 303
    assert team.api("GET", "/api/flags").json()["flags"]["kill_switch"] is True
    dashboard = browser.get("/").text
    assert "Kill switch ON" in dashboard
    audit = team.api("GET", "/api/audit?kind=flag_change").json()["entries"]
    assert audit[0]["who"] == REP


def test_untrusted_email_content_is_rendered_inert(browser: Browser, team: Team):
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.mail.inbound(
        f"Dana <{DANA.email}>",
        'Re: Your request <script>alert("subject")</script>',
        'Hi <img src=x onerror=alert(1)> see <a href="javascript:alert(2)">this</a>',
    )
    assert team.mail.push().status_code == 200
    team.drafted(workflow_id, version=2)
    assert "<span>1</span>replies today" in browser.get("/").text
    # The rep pastes hostile text into the draft in Gmail, too.
    from shared.domain.outbound import compose

    workflow = team.workflow(workflow_id)
    raw = compose(
        sender=REP,
        to=DANA.email,
        subject="Re: Your request",
        body='<script>alert("body")</script> <img src=x onerror=alert(3)> javascript:alert(4)',
        message_id=workflow["draft"]["message_id"],
    )
    team.rep_gmail().update_draft(workflow["draft_id"], raw)

    page = browser.get(f"/queue/{workflow_id}")

    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(&#34;body&#34;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#34;subject&#34;)" in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts == ['<script src="/ui/app.js" defer>']


def test_approving_from_the_page_binds_to_what_was_shown(browser: Browser, team: Team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    page = browser.get(f"/queue/{workflow_id}").text
    shown = re.search(r'name="content_hash" value="([0-9a-f]{64})"', page)
    assert shown
    token = browser.csrf(f"/queue/{workflow_id}")

    approved = browser.post(
        f"/queue/{workflow_id}/approve", {"content_hash": shown.group(1), "csrf": token}
    )

    assert "VP Operations" in page  # the HubSpot context it drew on, beside the draft
    assert approved.status_code == 303
    workflow = team.workflow(workflow_id)
    assert workflow["state"] == "approved"
    assert workflow["approval"]["by"] == REP
    stale = browser.post(f"/queue/{workflow_id}/reject", {"reason": "", "csrf": token})
    assert stale.status_code == 400  # a rejection needs its reason; nothing changed
    assert team.workflow(workflow_id)["state"] == "approved"


def test_google_sign_in_accepts_a_verified_token_for_the_page_only(team: Team):
    issuer = team.stack.issuer
    good = issuer.sign("operator-page-local", REP)
    other_audience = issuer.sign(team.stack.function_url("operator"), REP)
    not_listed = issuer.sign("operator-page-local", "intruder@brightline.example")
    base = team.servers["operator"].url

    def sign_in(token: str) -> requests.Response:
        return requests.post(
            f"{base}/login", data={"id_token": token}, allow_redirects=False, timeout=30
        )

    assert sign_in(good).status_code == 303
    assert "sa_session" in sign_in(good).cookies
    for token in (other_audience, not_listed, "garbage"):
        refused = sign_in(token)
        assert refused.status_code == 401
        assert "sa_session" not in refused.cookies


def test_the_development_login_is_refused_in_production():
    from types import SimpleNamespace

    from shared.config import Environment
    from shared.errors import Forbidden
    from shared.services.operator_web import OperatorDoor

    settings = SimpleNamespace(environment=Environment.PRODUCTION, operator_emails=(REP,))
    door = OperatorDoor(settings, secrets=None, verifier=None)  # type: ignore[arg-type]

    with pytest.raises(Forbidden):
        door.sign_in_dev(REP)


def test_workflows_filter_and_show_the_whole_timeline(browser: Browser, team: Team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)

    listed = browser.get("/workflows?state=approved").text
    none = browser.get("/workflows?state=closed").text
    detail = browser.get(f"/workflows/{workflow_id}").text

    assert f"/workflows/{workflow_id}" in listed
    assert f"/workflows/{workflow_id}" not in none
    future = browser.get("/workflows?since=2999-01-01").text
    assert f"/workflows/{workflow_id}" not in future
    for kind in ("form.submission", "drafted", "approved"):
        assert kind in detail, kind
    assert browser.get("/workflows?state=%3Cscript%3E").status_code == 400


def test_the_connections_page_stores_a_key_and_never_shows_it(browser: Browser, team: Team):
    page = browser.get("/connections").text
    assert REP in page
    assert "offline drafter" in page
    token = browser.csrf("/connections")
    key = "sk-page-0123456789abcdef"

    refused = browser.post("/connections/openai", {"key": key})
    saved = browser.post("/connections/openai", {"key": key, "csrf": token})

    assert refused.status_code == 403
    assert saved.status_code == 303
    after = browser.get("/connections").text
    assert "drafting with: LLM" in after
    assert key not in after


def test_voice_training_from_the_page_links_and_files_become_samples(browser: Browser, team: Team):
    team.stack.fakes["youtube"][0].add_video(
        "bRtLn3Fc9kQ", "Maya at RetailOps 2026", transcripts={"en": seed.TALK}
    )
    token = browser.csrf("/voice")
    links = "\n".join(
        [
            "https://youtu.be/bRtLn3Fc9kQ",
            "https://169.254.169.254/computeMetadata/v1/",
        ]
    )

    pasted = browser.post("/voice/links", {"links": links, "csrf": token})
    uploaded = browser.http.post(
        f"{browser.base}/voice/upload",
        data={"csrf": token},
        files=[
            ("file", ("reply.txt", b"Hi Sam,\n\nHappy to walk you through it.\n\nCheers,\nMaya"))
        ],
        allow_redirects=False,
        timeout=30,
    )

    assert pasted.status_code == 303
    assert uploaded.status_code == 303
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = team.wait_for_samples(REP, count=3)
        by_source = {s["source_type"]: s["status"] for s in samples}
        if "pending" not in by_source.values() and len(by_source) == 3:
            break
        time.sleep(0.3)
    assert by_source == {"youtube": "ready", "link": "failed", "upload": "ready"}
    gallery = browser.get("/voice").text
    assert "reply.txt" in gallery
    assert "Happy to walk you through it." in gallery  # the extracted text's preview
    assert "YouTube video bRtLn3Fc9kQ" in gallery or "youtube" in gallery


def test_outcomes_count_what_happened_per_week(browser: Browser, team: Team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=0)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    team.approve(workflow_id)
    team.wait(workflow_id, lambda d: (d.get("send") or {}).get("effects_done"))

    page = browser.get("/outcomes").text
    timeline = browser.get(f"/workflows/{workflow_id}").text
    assert "hubspot_email" in timeline  # the HubSpot writes after the send
    assert "follow_up_scheduled" in timeline

    assert "1 sent" in page
    assert "0 replies" in page
    assert page.count("<svg") == 3
    assert ": 1</title>" in page
    assert "maya@brightline.example" in page  # the per-rep table
    csv = browser.get("/outcomes.csv")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert ",sent,rep,maya@brightline.example,1.0" in csv.text
    assert ",sent,source,form,1.0" in csv.text


def test_the_hubspot_picker_finds_a_contact_and_adds_it_as_a_sample(browser: Browser, team: Team):
    page = browser.get("/voice?q=Dana").text
    assert "dana@northwind.example" in page
    assert 'name="id" value="701"' in page
    token = browser.csrf("/voice")

    added = browser.post("/voice/hubspot", {"object_type": "contact", "id": "701", "csrf": token})

    assert added.status_code == 303
    (sample,) = team.wait_for_samples(REP, count=1)
    assert sample["source_type"] == "hubspot"
    assert sample["source_id"] == "701"
    assert "No contact matches" in browser.get("/voice?q=zzzz-nobody").text


def _google_sign_in(team: Team, email: str) -> tuple[requests.Session, requests.Response]:
    """The whole "Sign in with Google" round trip a browser makes (the OAuth fake consents)."""
    from urllib.parse import urlparse

    http = requests.Session()
    base = team.servers["operator"].url
    started = http.get(f"{base}/login/google", allow_redirects=False, timeout=30)
    assert started.status_code == 303
    for cookie in http.cookies:
        cookie.secure = False
    team.stack.fakes["oauth"][0].set_consent(email)
    consent = requests.get(started.headers["Location"], allow_redirects=False, timeout=30)
    back = consent.headers["Location"]
    assert urlparse(back).path == "/login/callback"
    return http, http.get(back, allow_redirects=False, timeout=30)


def test_sign_in_with_google_through_the_code_flow(team: Team):
    http, answer = _google_sign_in(team, REP)

    assert answer.status_code == 303, answer.text[:300]
    assert answer.headers["Location"].endswith("/")
    for cookie in http.cookies:
        cookie.secure = False
    assert http.get(f"{team.servers['operator'].url}/", timeout=30).status_code == 200
    replay = http.get(answer.request.url, allow_redirects=False, timeout=30)
    assert replay.status_code in (400, 401)  # the code is spent and the flow cookie gone


def test_google_sign_in_refuses_an_account_off_the_list_and_another_browser(team: Team):
    _, stranger = _google_sign_in(team, "intruder@brightline.example")
    assert stranger.status_code == 401
    assert "sa_session" not in stranger.cookies

    started = requests.get(
        f"{team.servers['operator'].url}/login/google", allow_redirects=False, timeout=30
    )
    team.stack.fakes["oauth"][0].set_consent(REP)
    consent = requests.get(started.headers["Location"], allow_redirects=False, timeout=30)
    elsewhere = requests.get(consent.headers["Location"], allow_redirects=False, timeout=30)
    assert elsewhere.status_code == 400  # no flow cookie: not the browser that started
    assert "sa_session" not in elsewhere.cookies


def test_the_flags_form_sets_the_auto_approve_policy(browser: Browser, team: Team):
    token = browser.csrf("/flags")
    form = {
        "csrf": token,
        "mode": "SEND_ALLOWED",
        "undo_seconds": "30",
        "quotas.mailbox_day": "40",
        "quotas.mailbox_week": "150",
        "quotas.team_day": "120",
        "auto_approve.enabled": "true",
        "auto_approve.max_risk": "15",
        "auto_approve.sources": "form, reply",
        "auto_approve.lifecycle_stages": "",
        "reason": "trusting form leads",
    }

    answer = browser.post("/flags", form)

    assert answer.status_code == 303
    flags = team.api("GET", "/api/flags").json()["flags"]
    assert flags["auto_approve"] == {
        "enabled": True,
        "max_risk": 15,
        "sources": ["form", "reply"],
        "lifecycle_stages": [],
        "nurture_only": False,
    }
    assert flags["quotas"] == {"mailbox_day": 40, "mailbox_week": 150, "team_day": 120}
    assert flags["mode"] == "SEND_ALLOWED"


def test_retrain_shows_progress_until_the_new_profile_is_built(browser: Browser, team: Team):
    token = browser.csrf("/voice")
    browser.http.post(
        f"{browser.base}/voice/upload",
        data={"csrf": token},
        files=[
            ("file", ("note.txt", b"Hi Lena,\n\nHappy to walk you through it.\n\nCheers,\nMaya"))
        ],
        allow_redirects=False,
        timeout=30,
    )

    asked = browser.post("/voice/retrain", {"csrf": token})

    assert asked.status_code == 303
    import time

    deadline = time.monotonic() + 30
    page = browser.get("/voice").text
    assert "Retraining" in page or "Version 1" in page
    while 'http-equiv="refresh"' in page and time.monotonic() < deadline:
        time.sleep(0.5)  # the page refreshes itself while samples or the profile are in work
        page = browser.get("/voice").text
    assert "Retraining" not in page
    assert "Version" in page
    assert 'http-equiv="refresh"' not in page


def test_the_queue_shows_the_newest_waiting_drafts_and_how_many_wait(team: Team):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    batch = team.db.batch()
    for n in range(205):
        batch.set(
            team.db.collection("workflows").document(f"wf-q{n:03d}"),
            {
                "state": "awaiting_approval",
                "draft": {"to": f"p{n}@x.example", "subject": f"draft {n}", "body": "long " * 50},
                "updated_at": now - timedelta(minutes=205 - n),  # wf-q204 is the newest
            },
        )
    batch.commit()

    queue = team.api("GET", "/api/queue").json()

    assert queue["waiting"] == 205
    assert len(queue["items"]) == 200
    assert queue["items"][0]["id"] == "wf-q204"
    assert {i["id"] for i in queue["items"]}.isdisjoint({f"wf-q{n:03d}" for n in range(5)})
    assert "body" not in str(queue["items"][0])
