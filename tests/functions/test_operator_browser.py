"""The operator page in real headless Chromium (Debian's, driven by Playwright) against the
functions and the local stack: sign in, approve a draft with the keyboard, stop all sending
and see the dashboard say so. Screenshots go to artifacts/browser/."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import seed
from devstack.stack import ROOT
from tests.functions.team_support import Team

pytestmark = pytest.mark.stack
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "browser"
FLAGS = [  # what this closed network needs (see the machine notes)
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, team: Team) -> str:
    base = team.servers["operator"].url
    page.goto(f"{base}/login")
    page.fill("input[name=email]", seed.REP_EMAIL)
    page.click("text=Sign in locally")
    page.wait_for_url(f"{base}/")
    return base


def test_sign_in_and_approve_a_draft_with_the_keyboard(page: Any, team: Team):
    team.set_flags(mode="SEND_ALLOWED", undo_seconds=600)
    workflow_id = team.lead()
    team.drafted(workflow_id)
    base = sign_in(page, team)
    assert "drafts waiting" in page.inner_text("main")
    shot(page, "dashboard")

    page.goto(f"{base}/queue")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/queue/{workflow_id}")
    assert "Why it says this" in page.inner_text("main")
    shot(page, "draft")
    page.keyboard.press("a")
    page.wait_for_url(f"{base}/queue")

    workflow = team.workflow(workflow_id)
    assert workflow["state"] == "approved"
    assert workflow["approval"]["by"] == seed.REP_EMAIL
    assert len(team.tasks("send")) == 1
    shot(page, "queue-after-approval")


def test_the_kill_switch_takes_one_click_a_confirmation_and_shows_everywhere(page: Any, team: Team):
    base = sign_in(page, team)
    assert "Kill switch off" in page.inner_text("header")
    page.goto(f"{base}/flags")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    form = page.locator("form[data-confirm]")
    form.locator("input[name=reason]").fill("a bad template went out")
    form.locator("button").click()
    page.wait_for_url(f"{base}/flags")

    assert dialogs == ["Stop every send now, including queued ones?"]
    assert team.api("GET", "/api/flags").json()["flags"]["kill_switch"] is True
    page.goto(f"{base}/")
    assert "Kill switch ON: nothing is sent" in page.inner_text("header")
    assert "a bad template went out" in page.goto(f"{base}/flags").text()
    shot(page, "kill-switch-on")


def test_drop_a_pdf_and_paste_a_youtube_link_and_both_become_samples(page: Any, team: Team):
    import base64

    team.stack.fakes["youtube"][0].add_video(
        "bRtLn3Fc9kQ", "Maya at RetailOps 2026", transcripts={"en": seed.TALK}
    )
    base = sign_in(page, team)
    page.goto(f"{base}/voice")
    pdf = base64.b64encode(seed.pdf_sample()).decode()
    page.evaluate(
        """([b64, name]) => {
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const file = new File([bytes], name, { type: "application/pdf" });
          const data = new DataTransfer();
          data.items.add(file);
          const zone = document.querySelector("[data-dropzone]");
          const drop = { dataTransfer: data, bubbles: true, cancelable: true };
          zone.dispatchEvent(new DragEvent("drop", drop));
        }""",
        [pdf, "pricing-faq.pdf"],
    )
    page.wait_for_selector("[data-progress] li[data-done=ok]")
    page.fill("textarea[name=links]", "https://www.youtube.com/watch?v=bRtLn3Fc9kQ")
    page.click("text=Add links")
    page.wait_for_url(f"{base}/voice?rep=*")

    def ready() -> list[dict[str, Any]]:
        samples = team.wait_for_samples(seed.REP_EMAIL, count=2)
        return [s for s in samples if s.get("status") == "ready"]

    import time

    deadline = time.monotonic() + 40
    while len(ready()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert {s["source_type"] for s in ready()} == {"upload", "youtube"}
    page.goto(f"{base}/voice")
    gallery = page.inner_text("main")
    assert "Pricing FAQ" in gallery  # the PDF's own title
    assert gallery.count("ready") >= 2
    shot(page, "voice-training")
