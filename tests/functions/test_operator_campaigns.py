"""The campaigns part of the operator page over HTTP (no JavaScript: plain forms with the CSRF
token), and once in real headless Chromium: the list, the new-campaign form with its preview,
a campaign's page with its buttons, its drafts and its bulk approval."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from devstack import seed
from tests.functions.team_support import Team
from tests.functions.test_campaigns import COMPLIANCE, _seed_segment, _settled, _spec, _wait
from tests.functions.test_operator_browser import shot, sign_in
from tests.functions.test_operator_page import Browser

pytestmark = pytest.mark.stack


def _form(spec: dict[str, Any], csrf: str, action: str = "create") -> list[tuple[str, str]]:
    """A campaign spec as the new-campaign form sends it."""
    story, segment, owner = spec["story"], spec["segment"], spec["owner_rule"]
    schedule, compliance = spec["schedule"], spec["compliance"]
    fields = [
        ("csrf", csrf),
        ("action", action),
        ("id", spec["id"]),
        ("name", spec["name"]),
        ("story_title", story["title"]),
        ("story_brief", story["brief"]),
        ("story_asset_ids", ", ".join(story.get("asset_ids") or [])),
        ("segment_list_id", segment.get("list_id") or ""),
    ]
    for i, rule in enumerate(segment.get("filters") or []):
        value = ", ".join(rule["values"]) if rule.get("values") else rule.get("value") or ""
        fields += [
            (f"f{i}_object", rule["object"]),
            (f"f{i}_property", rule["property"]),
            (f"f{i}_operator", rule["operator"]),
            (f"f{i}_value", value),
        ]
    fields += [("owner_kind", owner["kind"]), ("owner_rep_email", owner.get("rep_email") or "")]
    fields += [(name, str(value)) for name, value in spec["limits"].items()]
    fields += [("days", str(day)) for day in schedule["days"]]
    fields += [
        ("start_hour", str(schedule["start_hour"])),
        ("end_hour", str(schedule["end_hour"])),
        ("time_zone", schedule["time_zone"]),
        ("opt_out_line", compliance["opt_out_line"]),
        ("postal_address", compliance.get("postal_address") or ""),
        ("subscription_type_id", compliance.get("subscription_type_id") or ""),
        ("consent_basis", compliance["consent_basis"]),
    ]
    return fields


def _post_form(browser: Browser, path: str, fields: list[tuple[str, str]]) -> Any:
    return browser.http.post(
        f"{browser.base}{path}", data=fields, allow_redirects=False, timeout=60
    )


def _state(team: Team, campaign_id: str) -> str | None:
    snap = team.db.collection("campaigns").document(campaign_id).get()
    return (snap.to_dict() or {}).get("state") if snap.exists else None


def _step(browser: Browser, campaign_id: str, step: str) -> Any:
    token = browser.csrf(f"/campaigns/{campaign_id}")
    return browser.post(f"/campaigns/{campaign_id}/{step}", {"csrf": token})


def test_the_list_shows_each_campaign_newest_first(browser: Browser, team: Team):
    assert team.api("POST", "/api/campaigns", _spec("older-one", name="Older")).status_code == 200
    newer = _spec("newer-one", name="Newer")
    newer["story"] = {**newer["story"], "title": "The Q3 launch"}
    assert team.api("POST", "/api/campaigns", newer).status_code == 200

    page = browser.get("/campaigns")

    assert page.status_code == 200
    html = page.text
    assert '<a href="/campaigns" aria-current="page">Campaigns</a>' in html
    assert 'href="/campaigns/newer-one"' in html
    assert "The Q3 launch" in html
    assert "How Northwind closes the month three days sooner" in html
    assert html.index("/campaigns/newer-one") < html.index("/campaigns/older-one")
    row = re.search(r'data-href="/campaigns/older-one".*?</tr>', html, re.S)
    assert row
    assert "draft" in row.group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", row.group(0))] == [0, 0, 0, 0, 0]
    assert 'href="/campaigns/new"' in html
    for path in ("/campaigns", "/campaigns/new", "/campaigns/older-one"):
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"], path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert answer.headers["Cache-Control"] == "no-store", path


def test_a_bad_opt_out_line_is_refused_with_the_values_kept_and_nothing_written(
    browser: Browser, team: Team
):
    token = browser.csrf("/campaigns/new")
    spec = _spec("bad-opt-out", compliance={**COMPLIANCE, "opt_out_line": "stop?"})

    answer = _post_form(browser, "/campaigns/new", _form(spec, token))

    assert answer.status_code == 400
    html = answer.text
    assert "compliance.opt_out_line" in html
    assert 'role="alert"' in html
    assert 'name="id" value="bad-opt-out"' in html
    assert 'name="opt_out_line" value="stop?"' in html
    assert "Northwind&#39;s finance team moved month-end reporting" in html  # the brief, kept
    assert 'name="f1_property" value="industry"' in html
    assert re.search(r'name="f1_object"[^>]*>.*?<option selected>company</option>', html, re.S)
    assert re.search(r'value="6" checked> Sun', html)  # every day of ALWAYS, still ticked
    assert 'name="time_zone" value="UTC"' in html
    assert not list(team.db.collection("campaigns").stream())
    # ... and a form without the CSRF token changes nothing either.
    good = _form(_spec("no-token"), token)
    refused = _post_form(browser, "/campaigns/new", [f for f in good if f[0] != "csrf"])
    assert refused.status_code == 403
    assert not list(team.db.collection("campaigns").stream())


def test_preview_without_javascript_shows_the_count_and_the_reasons(browser: Browser, team: Team):
    segment = _seed_segment(team, 10, first_id=51_000)
    token = browser.csrf("/campaigns/new")

    answer = _post_form(browser, "/campaigns/new", _form(_spec("preview-me"), token, "preview"))

    assert answer.status_code == 200, answer.text[:500]
    html = answer.text
    assert f"<strong data-preview-count>{len(segment.eligible)}</strong>" in html
    assert f"{len(segment.excluded)} left out" in html
    for reason, count in Counter(segment.excluded.values()).items():
        assert f"<li><b>{reason}</b>: {count}</li>" in html, reason
    assert "lifecyclestage = lead; company industry = Software" in html
    assert "company cap of 3 reached at Acme 1" in html
    assert "opted out of all email in HubSpot" in html
    for email in segment.eligible:
        assert f"&lt;{email}&gt;" in html
    assert 'name="id" value="preview-me"' in html  # the form stays filled in for Create
    assert not team.db.collection("campaigns").document("preview-me").get().exists


def test_create_launch_and_approve_the_drafts_from_the_page(browser: Browser, team: Team):
    segment = _seed_segment(team, 10, first_id=52_000)
    token = browser.csrf("/campaigns/new")

    created = _post_form(browser, "/campaigns/new", _form(_spec("from-page"), token))

    assert created.status_code == 303, created.text[:500]
    assert created.headers["Location"].endswith("/campaigns/from-page")
    page = browser.get("/campaigns/from-page").text
    assert "data-state>draft</span>" in page
    assert 'action="/campaigns/from-page/launch"' in page
    assert "/pause" not in page
    assert "Not for you? Reply &#39;unsubscribe&#39; and I won&#39;t write again." in page
    assert "Mon, Tue, Wed, Thu, Fri, Sat, Sun · 0:00 to 24:00 UTC" in page
    assert _state(team, "from-page") == "draft"

    launched = _step(browser, "from-page", "launch")

    assert launched.status_code == 303
    assert _wait(lambda: _settled(team, "from-page", len(segment.eligible)), 90)
    page = browser.get("/campaigns/from-page").text
    assert _state(team, "from-page") == "done"
    assert "data-poll=" not in page  # settled: nothing left to refresh
    members = [
        snap.to_dict() or {}
        for snap in team.db.collection("campaigns")
        .document("from-page")
        .collection("members")
        .stream()
    ]
    drafted = [m["workflow_id"] for m in members if m.get("workflow_id")]
    assert len(drafted) == len(segment.eligible)
    for workflow_id in drafted:
        assert f'<a href="/workflows/{workflow_id}" data-read-link="{workflow_id}">' in page
        assert f'name="sampled" value="{workflow_id}"' in page
    assert f"Approve all {len(segment.eligible)} drafted" in page
    assert "<b>company_cap</b>: 2" in page  # skipped, grouped by reason
    assert "bounced or unsubscribed before" in page  # ... and each with its reason
    assert f'<dd data-progress="workflows.drafted">{len(segment.eligible)}</dd>' in page

    token = browser.csrf("/campaigns/from-page")
    refused = browser.post("/campaigns/from-page/approve", {"csrf": token})

    assert refused.status_code == 400
    assert "read at least 3 of this campaign&#39;s drafts first (sampled 0)" in refused.text
    assert {team.workflow(w)["state"] for w in drafted} == {"awaiting_approval"}

    read = [("csrf", token)] + [("sampled", w) for w in drafted[:3]]
    approved = _post_form(browser, "/campaigns/from-page/approve", read)

    assert approved.status_code == 200, approved.text[:500]
    assert f"Approved {len(segment.eligible)} draft(s)." in approved.text
    assert {team.workflow(w)["state"] for w in drafted} == {"approved"}
    after = browser.get("/campaigns/from-page").text
    assert f'<dd data-progress="workflows.approved">{len(segment.eligible)}</dd>' in after
    assert "Approve all 0 drafted" in after
    outcomes = browser.get("/outcomes").text
    row = outcomes.split('<a href="/campaigns/from-page">', 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    assert cells[:3] == [
        "How Northwind closes the month three days sooner",
        "done",
        str(len(segment.eligible)),
    ]


def test_pause_resume_and_cancel_from_the_page(browser: Browser, team: Team):
    _seed_segment(team, 20, first_id=53_000)
    slow = _spec("slow-one", limits={"per_minute": 1, "per_day": 2000, "per_company": 3})
    assert team.api("POST", "/api/campaigns", slow).status_code == 200
    assert _step(browser, "slow-one", "launch").status_code == 303
    running = browser.get("/campaigns/slow-one").text
    assert "data-state>running</span>" in running
    assert 'data-poll="/api/campaigns/slow-one"' in running  # it refreshes itself
    assert '<noscript><meta http-equiv="refresh"' in running

    assert _step(browser, "slow-one", "pause").status_code == 303
    paused = browser.get("/campaigns/slow-one").text
    assert _state(team, "slow-one") == "paused"
    assert "data-state>paused</span>" in paused
    assert 'action="/campaigns/slow-one/resume"' in paused
    assert 'action="/campaigns/slow-one/pause"' not in paused
    again = _step(browser, "slow-one", "pause")
    assert again.status_code == 409  # the page says why, with the campaign around it
    assert "a paused campaign cannot be paused" in again.text
    assert "data-state>paused</span>" in again.text

    assert _step(browser, "slow-one", "resume").status_code == 303
    assert _state(team, "slow-one") == "running"
    assert 'action="/campaigns/slow-one/pause"' in browser.get("/campaigns/slow-one").text

    cancel_form = re.search(
        r'<form method="post" action="/campaigns/slow-one/cancel" data-confirm="[^"]+">',
        browser.get("/campaigns/slow-one").text,
    )
    assert cancel_form  # the browser asks before it cancels
    assert _step(browser, "slow-one", "cancel").status_code == 303
    assert _state(team, "slow-one") == "cancelled"
    done = browser.get("/campaigns/slow-one").text
    assert "data-state>cancelled</span>" in done
    assert "/resume" not in done


def test_hubspot_values_are_shown_escaped(browser: Browser, team: Team):
    hubspot = team.hubspot
    company = hubspot.create(
        "companies",
        {"name": '<img src=x onerror=alert("company")>', "industry": "Software"},
    )
    hubspot.create(
        "contacts",
        {
            "email": "mallory@hostile.example",
            "firstname": '<script>alert("firstname")</script>',
            "lifecyclestage": "lead",
            "hubspot_owner_id": seed.OWNER_ID,
        },
        associations=[("companies", company["id"])],
        object_id=54_000,
    )
    token = browser.csrf("/campaigns/new")

    preview = _post_form(browser, "/campaigns/new", _form(_spec("hostile"), token, "preview"))
    assert preview.status_code == 200, preview.text[:500]
    spec = _spec("hostile", name='<script>alert("name")</script>')
    created = _post_form(browser, "/campaigns/new", _form(spec, token))
    assert created.status_code == 303
    listed = browser.get("/campaigns").text
    shown = browser.get("/campaigns/hostile").text

    for html in (preview.text, listed, shown):
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/ui/app.js" defer>']
    assert "&lt;script&gt;alert(&#34;firstname&#34;)&lt;/script&gt;" in preview.text
    assert "&lt;img src=x onerror=alert(&#34;company&#34;)&gt;" in preview.text
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in listed
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;" in shown


def test_campaign_pages_need_a_sign_in(team: Team):
    stranger = Browser(team)
    for path in ("/campaigns", "/campaigns/new", "/campaigns/some-one"):
        answer = stranger.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].endswith("/login"), path
    for path in ("/campaigns/new", "/campaigns/some-one/launch", "/campaigns/some-one/approve"):
        answer = stranger.post(path, {"id": "some-one"})
        assert answer.status_code == 303, path
    assert not list(team.db.collection("campaigns").stream())


def test_unknown_campaigns_and_steps_are_not_found(browser: Browser):
    assert browser.get("/campaigns/nobody-here").status_code == 404
    assert browser.get("/campaigns/..%2F..").status_code == 404
    token = browser.csrf("/campaigns")
    assert browser.post("/campaigns/nobody-here/launch", {"csrf": token}).status_code == 404
    assert browser.post("/campaigns/nobody-here/approve", {"csrf": token}).status_code == 404
    assert browser.post("/campaigns/nobody-here/explode", {"csrf": token}).status_code == 404


# --- in a real browser (Debian's chromium, as tests/functions/test_operator_browser.py) ----


def test_fill_the_form_and_preview_the_segment_live(page: Any, team: Team):
    segment = _seed_segment(team, 10, first_id=55_000)
    base = sign_in(page, team)
    page.click("nav >> text=Campaigns")
    page.wait_for_url(f"{base}/campaigns")
    page.click("text=New campaign")
    page.wait_for_url(f"{base}/campaigns/new")

    page.fill("input[name=id]", "live-preview")
    page.fill("input[name=name]", "Northwind case study")
    page.fill("input[name=story_title]", "How Northwind closes the month three days sooner")
    page.fill("textarea[name=story_brief]", "Month-end reporting, three days sooner.")
    page.fill("input[name=f0_property]", "lifecyclestage")
    page.fill("input[name=f0_value]", "lead")
    page.select_option("select[name=f1_object]", "company")
    assert page.get_attribute("input[name=f1_property]", "list") == "company-properties"
    page.fill("input[name=f1_property]", "industry")
    page.fill("input[name=f1_value]", "Software")
    page.fill("input[name=per_company]", "3")
    page.check("input[name=days][value='5']")  # any day, any hour: the test runs whenever
    page.check("input[name=days][value='6']")
    page.fill("input[name=start_hour]", "0")
    page.fill("input[name=end_hour]", "24")
    page.fill("input[name=opt_out_line]", COMPLIANCE["opt_out_line"])
    page.click("button:text-is('Preview')")

    count = page.wait_for_selector("[data-preview-count]")
    assert count.inner_text() == str(len(segment.eligible))
    assert page.url == f"{base}/campaigns/new"  # fetched, not posted: the form stays as it is
    shown = page.inner_text("[data-preview]")
    assert "company_cap: 2" in shown
    assert "lifecyclestage = lead; company industry = Software" in shown
    assert not team.db.collection("campaigns").document("live-preview").get().exists
    shot(page, "campaign-preview")

    page.click("button:text-is('Create')")
    page.wait_for_url(f"{base}/campaigns/live-preview")
    assert page.inner_text("[data-state]") == "draft"
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:text-is('Launch')")
    page.wait_for_url(f"{base}/campaigns/live-preview")
    assert _wait(lambda: _settled(team, "live-preview", len(segment.eligible)), 60)
    page.reload()
    boxes = page.locator("input[name=sampled]")
    assert boxes.count() == len(segment.eligible)
    first = page.locator("a[data-read-link]").first
    workflow_id = first.get_attribute("data-read-link")
    first.click()  # open a draft: it counts as read
    page.wait_for_url(f"{base}/workflows/{workflow_id}")
    page.go_back()
    page.wait_for_url(f"{base}/campaigns/live-preview")
    assert page.is_checked(f"input[name=sampled][value='{workflow_id}']")
    shot(page, "campaign-drafted")
