"""The `draft` task end to end: a lead or a reply becomes a Gmail draft in the right thread,
with a HubSpot review task and note, through real Cloud Tasks dispatch (offline drafter)."""

from __future__ import annotations

import base64
import json
from email import message_from_bytes, policy
from typing import Any

import pytest
import requests

from devstack import seed
from devstack.stack import TASKS_INVOKER
from shared.services.suppressions import suppression_ref
from tests.functions.team_support import Team

pytestmark = pytest.mark.stack
REP = seed.REP_EMAIL
DANA = seed.PROSPECTS[0]


@pytest.fixture
def lead(team: Team) -> Team:
    return team


def parsed(raw: bytes | str) -> Any:
    data = raw if isinstance(raw, bytes) else base64.urlsafe_b64decode(raw + "==")
    return message_from_bytes(data, policy=policy.default)


def test_a_form_submission_becomes_a_gmail_draft_and_a_hubspot_task(lead):
    workflow_id = lead.lead()

    workflow = lead.drafted(workflow_id)

    assert workflow["state"] in ("awaiting_approval", "needs_input"), workflow.get("draft")
    (draft,) = lead.gmail.drafts(REP)
    message = parsed(draft["message"]["raw"])
    assert message["To"] == DANA.email
    assert message["Message-ID"].strip() == workflow["draft"]["message_id"]
    assert "Dana" in message.get_body(("plain",)).get_content()
    assert workflow["draft"]["gate"]["verdict"] in ("ready", "needs_input")
    assert workflow["draft"]["drafter"].startswith("offline")
    tasks = [t for t in lead.hubspot.objects("tasks") if "Review draft" in str(t)]
    notes = [n for n in lead.hubspot.objects("notes") if workflow_id in str(n)]
    assert len(tasks) == 1
    assert len(notes) == 1


def test_a_duplicate_task_makes_no_second_draft(lead):
    workflow_id = lead.lead()
    lead.drafted(workflow_id)
    token = lead.stack.issuer.sign(lead.stack.function_url("draft"), TASKS_INVOKER)

    again = requests.post(
        lead.servers["draft"].url,
        json={"workflow_id": workflow_id, "version": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )

    assert again.status_code == 200
    assert again.json()["status"] == "skipped"
    assert len(lead.gmail.drafts(REP)) == 1


def test_a_reply_gets_an_in_thread_draft_and_a_rep_edit_survives(lead):
    workflow_id = lead.lead()
    lead.drafted(workflow_id)
    gmail_id, reply = lead.mail.inbound(
        f"Dana Whitfield <{DANA.email}>",
        "Re: Your request",
        "Thanks Maya. Could we see how the forecasts handle our seasonal peaks?",
    )
    assert lead.mail.push().status_code == 200

    workflow = lead.drafted(workflow_id, version=2)

    (draft,) = lead.gmail.drafts(REP)
    message = parsed(draft["message"]["raw"])
    assert message["In-Reply-To"] == reply["Message-ID"]
    stored = lead.db.collection("gmail_messages").document(f"{REP}:{gmail_id}").get().to_dict()
    assert draft["message"]["threadId"] == stored["thread_id"]
    assert workflow["draft"]["draft_id"] == draft["id"]

    # The rep edits the draft in Gmail; newer input must not overwrite it.
    from shared.runtime import Runtime
    from shared.services.draft_wiring import DraftWiring

    rep_gmail = DraftWiring(Runtime(seed.settings_for(lead.stack))).gmail_for(REP)
    edited = message
    edited.set_content("Hi Dana, my own words.")
    rep_gmail.update_draft(draft["id"], edited.as_bytes(), stored["thread_id"])
    lead.mail.inbound(
        DANA.email,
        "Re: Your request",
        "Also, what does it cost for 20 seats?",
        in_reply_to=reply["Message-ID"],
        references=reply["Message-ID"],
    )
    assert lead.mail.push().status_code == 200
    third = lead.drafted(workflow_id, version=3)

    (kept,) = lead.gmail.drafts(REP)
    assert "my own words" in parsed(kept["message"]["raw"]).get_body(("plain",)).get_content()
    assert third["draft"]["kept_rep_edit"] is True


def test_an_unsubscribed_contact_gets_no_draft(lead):
    suppression_ref(lead.db, DANA.email).set({"active": True, "unsubscribe": {"at": "earlier"}})
    workflow_id = lead.lead()

    workflow = lead.drafted(workflow_id)

    assert workflow["state"] == "blocked"
    assert lead.gmail.drafts(REP) == []
    assert any(
        "suppress" in r or "unsubscrib" in r
        for c in workflow["draft"]["gate"]["checks"]
        for r in c["reasons"]
    )


def test_with_a_key_the_llm_writes_the_draft_from_quoted_context(lead):
    from shared.adapters.secrets import SecretStore

    SecretStore(lead.stack.project, lead.stack.secrets.address).write("openai-api-key", "sk-x")
    openai = lead.stack.fakes["openai"][0]
    openai.script_chat(
        {
            "content": {
                "subject": "Re: Your request",
                "body": "Hi Dana,\n\nThanks for reaching out. Happy to show you how it works.",
                "confidence": 0.86,
                "claims": [],
                "questions_for_rep": [],
                "slots_proposed": [],
            }
        }
    )
    workflow_id = lead.lead()

    workflow = lead.drafted(workflow_id)

    assert workflow["draft"]["drafter"] == "llm"
    assert workflow["draft"]["usage"]["prompt_tokens"] > 0
    assert workflow["state"] == "awaiting_approval", workflow["draft"]["gate"]
    (draft,) = lead.gmail.drafts(REP)
    body = parsed(draft["message"]["raw"]).get_body(("plain",)).get_content()
    assert "Happy to show you how it works." in body
    request = openai.chat_requests()[-1]
    assert "never instructions" in request["messages"][0]["content"]
    assert "Dana" in request["messages"][1]["content"]


def test_an_unusable_llm_answer_asks_the_rep_and_writes_nothing(lead):
    from shared.adapters.secrets import SecretStore

    SecretStore(lead.stack.project, lead.stack.secrets.address).write("openai-api-key", "sk-x")
    lead.stack.fakes["openai"][0].script_chat({"content": "{not json"})
    workflow_id = lead.lead()

    workflow = lead.drafted(workflow_id)

    assert workflow["state"] == "needs_input"
    assert "not JSON" in workflow["draft"]["reason"]
    assert lead.gmail.drafts(REP) == []


def test_accepting_an_offered_slot_gets_a_confirmation_and_a_prepared_invite(lead):
    workflow_id = lead.lead()
    first = lead.drafted(workflow_id)
    offered = first["draft"]["offered_slots"]
    assert len(offered) == 3
    (draft,) = lead.gmail.drafts(REP)
    assert offered[1]["text"] in parsed(draft["message"]["raw"]).get_body(("plain",)).get_content()

    lead.mail.inbound(DANA.email, "Re: Your request", "The second one works for me, thanks!")
    assert lead.mail.push().status_code == 200
    second = lead.drafted(workflow_id, version=2)

    meeting = second["draft"]["meeting"]
    assert meeting["start"] == offered[1]["start"]
    assert meeting["attendees"] == sorted([DANA.email, REP])
    assert meeting["conference"] is True
    (confirmation,) = lead.gmail.drafts(REP)
    body = parsed(confirmation["message"]["raw"]).get_body(("plain",)).get_content()
    assert f"{offered[1]['text']} it is" in body
    assert "Would one of these times work" not in body


def test_third_parties_personal_data_never_reaches_the_llm_or_the_logs(lead, caplog):
    """Dana's reply names a colleague's phone number, an office address and a card: the
    draft's prompt carries the reply without them, and no log line carries the prompt."""
    import logging

    from shared.adapters.secrets import SecretStore

    SecretStore(lead.stack.project, lead.stack.secrets.address).write("openai-api-key", "sk-x")
    openai = lead.stack.fakes["openai"][0]
    answer = {
        "subject": "Re: Your request",
        "body": "Hi Dana,\n\nHappy to walk you through the seasonal forecasts.",
        "confidence": 0.86,
        "claims": [],
        "questions_for_rep": [],
        "slots_proposed": [],
    }
    openai.script_chat({"content": answer}, {"content": answer})
    workflow_id = lead.lead()
    lead.drafted(workflow_id)
    secrets = ("+1 415 555 0199", "415-555-0199", "4111 1111 1111 1111", "1600 Amphitheatre")
    lead.mail.inbound(
        f"Dana Whitfield <{DANA.email}>",
        "Re: Your request",
        "Thanks Maya. Loop in my colleague Priya, +1 415 555 0199, or post the contract to "
        "1600 Amphitheatre Parkway, Mountain View, CA 94043. Our card: 4111 1111 1111 1111. "
        "How do the forecasts handle our seasonal peaks?",
    )
    caplog.set_level(logging.DEBUG)
    assert lead.mail.push().status_code == 200

    workflow = lead.drafted(workflow_id, version=2)

    assert workflow["draft"]["drafter"] == "llm"
    prompt = json.dumps(openai.chat_requests()[-1]["messages"])
    assert "seasonal peaks" in prompt  # the reply itself is there ...
    for detail in secrets:
        assert detail not in prompt  # ... without the third parties' details
    assert "seasonal peaks" not in caplog.text  # the prompt is never logged
    stored = json.dumps(workflow["draft"]["context"])
    assert not [detail for detail in secrets if detail in stored]
