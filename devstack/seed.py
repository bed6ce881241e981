"""Demo data: a believable small B2B team and its prospects, seeded into the local stack.

Brightline Analytics sells a forecasting product. Maya Chen is its account executive; her
mailbox holds a few past threads (her voice). HubSpot holds her prospects, their companies and
an open deal. Secret Manager holds the HubSpot app secret and token and Maya's Gmail grant.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from devstack.fakes import make_message

TEAM_DOMAIN = "brightline.example"
REP_EMAIL = "maya@brightline.example"
REP_NAME = "Maya Chen"
OWNER_ID = "7001"
HUBSPOT_CLIENT_SECRET = "demo-hubspot-app-secret"
HUBSPOT_PORTAL = 62515
DAY = 86_400


@dataclass(frozen=True)
class Prospect:
    contact_id: int
    first: str
    last: str
    email: str
    title: str
    company_id: int
    company: str
    domain: str
    industry: str
    employees: int


PROSPECTS = (
    Prospect(701, "Dana", "Whitfield", "dana@northwind.example", "VP Operations",
             9001, "Northwind Traders", "northwind.example", "LOGISTICS_AND_SUPPLY_CHAIN", 250),
    Prospect(702, "Priya", "Raman", "priya@heliohealth.example", "Head of Data",
             9002, "Helio Health", "heliohealth.example", "HOSPITAL_HEALTH_CARE", 120),
    Prospect(703, "Tom", "Becker", "tom@acmerobotics.example", "CFO",
             9003, "Acme Robotics", "acmerobotics.example", "MACHINERY", 600),
)  # fmt: skip


def hubspot_data() -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "owners": [
            {
                "id": OWNER_ID,
                "email": REP_EMAIL,
                "firstName": "Maya",
                "lastName": "Chen",
                "userId": 44001,
            }
        ],
        "companies": [
            {
                "id": str(p.company_id),
                "properties": {
                    "name": p.company,
                    "domain": p.domain,
                    "industry": p.industry,
                    "numberofemployees": str(p.employees),
                    "hubspot_owner_id": OWNER_ID,
                },
            }
            for p in PROSPECTS
        ],
        "contacts": [
            {
                "id": str(p.contact_id),
                "properties": {
                    "email": p.email,
                    "firstname": p.first,
                    "lastname": p.last,
                    "jobtitle": p.title,
                    "company": p.company,
                    "lifecyclestage": "lead",
                    "hubspot_owner_id": OWNER_ID,
                    "hs_timezone": "europe_slash_london" if p.contact_id == 701 else "",
                },
            }
            for p in PROSPECTS
        ],
        "deals": [
            {
                "id": "8001",
                "properties": {
                    "dealname": "Northwind Traders — forecasting pilot",
                    "dealstage": "appointmentscheduled",
                    "pipeline": "default",
                    "amount": "18000",
                    "closedate": str(now_ms + 45 * DAY * 1000),
                    "hubspot_owner_id": OWNER_ID,
                },
            }
        ],
        "associations": [
            *(
                {"from": ["contacts", p.contact_id], "to": ["companies", p.company_id]}
                for p in PROSPECTS
            ),
            {"from": ["deals", 8001], "to": ["contacts", 701]},
            {"from": ["deals", 8001], "to": ["companies", 9001]},
        ],
    }


PAST_THREADS = (
    (
        "lena@corvid.example",
        "Forecast accuracy question",
        "Hi Maya, how accurate were the forecasts for your retail customers last quarter?",
        "Hi Lena,\n\nGood question. Across our retail customers last quarter, median forecast "
        "error came in around 8%, down from 14% with their old spreadsheets.\n\nHappy to walk "
        "you through how we measure it. Does Thursday at 10 work?\n\nCheers,\nMaya",
    ),
    (
        "sam@tallyho.example",
        "Pricing for 20 seats",
        "Maya - what would 20 seats look like?",
        "Hi Sam,\n\nThanks for asking. For 20 seats you'd be on our Team plan; I'll send the "
        "exact quote once I know which data sources you need connected.\n\nCould you share "
        "those in a line or two?\n\nCheers,\nMaya",
    ),
)


def seed_gmail(gmail: Any) -> None:
    """Maya's mailbox with past threads: prospect question in, her reply out."""
    start = time.time() - 30 * DAY
    for index, (sender, subject, question, answer) in enumerate(PAST_THREADS):
        inbound = make_message(sender, REP_EMAIL, subject, question, date=start + index * DAY)
        gmail.deliver(REP_EMAIL, inbound, internal_date=start + index * DAY)
        reply = make_message(
            f"{REP_NAME} <{REP_EMAIL}>",
            sender,
            f"Re: {subject}",
            answer,
            in_reply_to=inbound["Message-ID"],
            references=inbound["Message-ID"],
            date=start + index * DAY + 3600,
        )
        gmail.deliver(REP_EMAIL, reply, labels=("SENT",), internal_date=start + index * DAY + 3600)


def settings_for(stack: Any) -> Any:
    """Settings as the functions of this stack see them (from its env, not os.environ)."""
    from shared.config import Settings

    return Settings(**{name.lower(): value for name, value in stack.env().items()})


def seed(stack: Any, *, connect: bool = True) -> dict[str, Any]:
    """Seed every fake and Secret Manager, and connect Maya's mailbox (cursor and watch), as
    the connections page would. Returns what the demo needs to refer to."""
    from shared.adapters.secrets import SecretStore
    from shared.domain.gmail_history import token_secret_name

    hubspot, _ = stack.fakes["hubspot"]
    hubspot.seed(hubspot_data())
    gmail, _ = stack.fakes["gmail"]
    seed_gmail(gmail)
    oauth, _ = stack.fakes["oauth"]
    # The grant the connections page asks for: the default read scopes plus creating invites.
    from devstack.fakes import DEFAULT_SCOPES

    refresh_token = oauth.issue_refresh_token(
        REP_EMAIL, (*DEFAULT_SCOPES, "https://www.googleapis.com/auth/calendar.events")
    )
    secrets = SecretStore(stack.project, stack.secrets.address)
    secrets.write("hubspot-client-secret", HUBSPOT_CLIENT_SECRET)
    secrets.write("hubspot-access-token", next(iter(hubspot.tokens)))
    secrets.write(
        "google-oauth-client",
        json.dumps(
            {
                "client_id": oauth.client_id or "demo-client",
                "client_secret": oauth.client_secret or "demo-secret",
            }
        ),
    )
    secrets.write(token_secret_name(REP_EMAIL), refresh_token)
    if connect:
        connect_mailbox(stack, REP_EMAIL)
    return {"rep": REP_EMAIL, "prospects": PROSPECTS}


def connect_mailbox(stack: Any, email: str) -> dict[str, Any]:
    """Register a mailbox whose token is stored: cursor from now, watch on the topic."""
    from shared.runtime import Runtime
    from shared.services.mail_wiring import GmailServices

    services = GmailServices(Runtime(settings_for(stack)))
    return services.mailboxes.connect(email)


# --- voice-training material for the demo ------------------------------------------------
PAST_REPLY = PAST_THREADS[0][3]
VOICE_DOC = (
    "When a prospect says the price is high, I don't argue. I ask what they compare it "
    "with, and I walk them through what a missed forecast costs in stock.\n\n"
    "When they say the timing is wrong, I ask what would make it right, and I offer a short "
    "pilot so nobody has to bet the quarter on us.\n\nCheers,\nMaya"
)
TALK = [
    (0.0, 5.0, "so today I want to talk about why retail forecasts break"),
    (5.0, 6.0, "and it's almost never the model, it's the seasonal peaks nobody wrote down"),
    (11.0, 6.0, "when we onboard a customer we start with their last three peaks"),
    (17.0, 5.0, "and we measure the error week by week, in plain numbers"),
]
HUBSPOT_NOTE = (
    "<p>Call with Dana: she wants a pilot before Q3. I'll send the retail case study and "
    "propose two weeks on their own data.</p>"
)


def pdf_sample() -> bytes:
    """A short pricing FAQ Maya wrote, as a real PDF (fpdf2, a development dependency)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Pricing FAQ")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(
        0,
        6,
        "Hi there,\n\nPeople ask me how our pricing works, so here it is in plain words. "
        "You pay per seat, and the Team plan covers up to 25 seats. Happy to walk you through "
        "the numbers for your team.\n\nCheers,\nMaya",
    )
    return bytes(pdf.output())


def sales_material() -> list[tuple[str, str, bytes | str]]:
    """Brightline's Drive folder: a case study (DOCX), a security one-pager (Doc), a pricing
    sheet (PDF). Returns (title, mime type, content)."""
    import io

    from docx import Document
    from fpdf import FPDF

    document = Document()
    document.add_heading("Northwind retail case study", level=1)
    document.add_heading("The challenge", level=2)
    document.add_paragraph(
        "Northwind's 300 stores forecast demand in spreadsheets, and every seasonal peak "
        "brought stock-outs on bestsellers and overstock on everything else."
    )
    document.add_heading("Results", level=2)
    document.add_paragraph(
        "With Brightline, forecast error fell from 14% to 8% in one quarter, and stock-outs "
        "during the holiday peak dropped by a third."
    )
    docx = io.BytesIO()
    document.save(docx)
    pdf = FPDF()
    pdf.set_title("Pricing sheet")
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Team plan: 49 USD per seat per month, up to 25 seats.")
    pdf.add_page()
    pdf.multi_cell(0, 6, "Enterprise: volume pricing, annual invoicing, premium support.")
    security = (
        "Healthcare Security One-Pager\n\nData Residency\n\nPatient data stays in EU data "
        "centres, encrypted at rest and in transit. We sign a BAA and a DPA.\n\nAccess Control"
        "\n\nSingle sign-on, role-based access and audit logs for every record access."
    )
    return [
        (
            "Northwind retail case study",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx.getvalue(),
        ),
        ("Healthcare security one-pager", "application/vnd.google-apps.document", security),
        ("Pricing sheet", "application/pdf", bytes(pdf.output())),
    ]


# --- Maya's calendar: the busy times the drafts' meeting slots must avoid ------------------
REP_TIME_ZONE = "Europe/London"
WORKING_WEEK = (
    (("09:00", "12:00", "Quarterly review: Corvid Retail"),),
    (("09:00", "10:00", "Pipeline review"), ("13:00", "15:00", "Onboarding: Tallyho")),
    (("09:00", "11:30", "Sales kick-off"), ("15:00", "16:00", "1:1 with Sam")),
    (("12:00", "17:30", "Customer visit: Harbour Grocers"),),
    (("09:00", "09:30", "Team stand-up"), ("12:00", "13:00", "Lunch and learn")),
)


def seed_calendar(calendar: Any, now: float | None = None) -> list[dict[str, Any]]:
    """Maya's calendar (Europe/London) with meetings on each working day of the coming week,
    from today. Returns them (`start` and `end` aware, `summary`)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(REP_TIME_ZONE)
    calendar.set_timezone(REP_EMAIL, REP_TIME_ZONE)
    today = datetime.fromtimestamp(now if now is not None else time.time(), zone).date()
    added: list[dict[str, Any]] = []
    working_day = 0
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        for start_text, end_text, summary in WORKING_WEEK[working_day % len(WORKING_WEEK)]:
            start, end = (
                datetime.combine(day, datetime.strptime(t, "%H:%M").time(), zone)
                for t in (start_text, end_text)
            )
            calendar.add_event(REP_EMAIL, start, end, summary, time_zone=REP_TIME_ZONE)
            added.append({"start": start, "end": end, "summary": summary})
        working_day += 1
    return added


def store_openai_key(stack: Any, key: str) -> str:
    """Store an OpenAI API key where the functions look for it (Secret Manager, under the
    settings' `openai_api_key_id`); returns that secret id."""
    from shared.adapters.secrets import SecretStore

    secret_id = str(settings_for(stack).openai_api_key_id)
    SecretStore(stack.project, stack.secrets.address).write(secret_id, key)
    return secret_id
