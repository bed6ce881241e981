"""The restore drill (`make restore-drill`): export the Firestore emulator's data, wipe it,
import the export, and prove that every document came back whole.

Each document (subcollections included) is fingerprinted by its path and a SHA-256 of its
canonical content before the export and after the import; the drill passes only when the wipe
left nothing, every path came back with the same hash and nothing extra appeared. The export
is the managed Firestore export's format, so the same files would restore a real database.

`run_drill(emulator, project, workdir)` runs it against any running Firestore `Emulator`
(the system must be quiet: a write during the drill shows up as a difference). As a command
it starts the local stack, plays the demo's first stories (a mailbox connected, a lead drafted
and approved, a voice trained from samples, a flag changed) and drills the stack's emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import emulators

# What the team most needs back, in the order the report names it.
KEY_COUNTS = (
    ("workflows", "workflows"),
    ("workflow events", "workflows/*/events"),
    ("Gmail drafts referenced", "gmail_drafts"),
    ("audit records", "audit"),
    ("voice profiles", "voice_profiles"),
    ("voice samples", "training_samples"),
)
SHOWN_DIFFERENCES = 10
_BATCH = 300


# --- fingerprints -------------------------------------------------------------------------
def canonical(value: Any) -> Any:
    """A JSON-able form of a Firestore value that keeps its type: timestamps as UTC ISO
    strings with microseconds, bytes as hex, vectors as lists, references as paths."""
    from google.cloud.firestore_v1 import DocumentReference, GeoPoint
    from google.cloud.firestore_v1.vector import Vector

    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"$timestamp": moment.astimezone(UTC).isoformat(timespec="microseconds")}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, Vector):
        return {"$vector": [float(x) for x in value]}
    if isinstance(value, DocumentReference):
        return {"$reference": value.path}
    if isinstance(value, GeoPoint):
        return {"$geopoint": [value.latitude, value.longitude]}
    if isinstance(value, dict):
        return {str(key): canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    return value


def content_hash(data: dict[str, Any]) -> str:
    text = json.dumps(canonical(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def collection_of(path: str) -> str:
    """`workflows/w1/events/e1` → `workflows/*/events`: the collection, ids wildcarded."""
    parts = path.split("/")[:-1]
    return "/".join(part if index % 2 == 0 else "*" for index, part in enumerate(parts))


@dataclass
class Fingerprint:
    hashes: dict[str, str] = field(default_factory=dict)  # document path → content hash
    draft_ids: set[str] = field(default_factory=set)  # Gmail drafts the workflows point to

    def __len__(self) -> int:
        return len(self.hashes)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for path in self.hashes:
            name = collection_of(path)
            counted[name] = counted.get(name, 0) + 1
        return dict(sorted(counted.items()))

    def key_counts(self) -> dict[str, int]:
        counted = {**self.counts(), "gmail_drafts": len(self.draft_ids)}
        return {label: counted.get(name, 0) for label, name in KEY_COUNTS}


def fingerprint(db: Any) -> Fingerprint:
    """Every document in every collection and subcollection, walked without a single query
    (ListCollectionIds, ListDocuments and BatchGetDocuments only), so no index is involved."""
    found = Fingerprint()
    pending = list(db.collections())
    while pending:
        collection = pending.pop()
        refs = list(collection.list_documents())  # parents that exist only as a path too
        for ref in refs:
            pending.extend(ref.collections())
        for start in range(0, len(refs), _BATCH):
            for snap in db.get_all(refs[start : start + _BATCH]):
                if not snap.exists:
                    continue
                data = snap.to_dict() or {}
                found.hashes[snap.reference.path] = content_hash(data)
                if collection_of(snap.reference.path) == "workflows" and data.get("draft_id"):
                    mailbox = data.get("mailbox") or (data.get("draft") or {}).get("mailbox")
                    found.draft_ids.add(f"{mailbox or ''}/{data['draft_id']}")
    return found


@dataclass(frozen=True)
class Difference:
    kind: str  # missing | changed | extra
    path: str

    def __str__(self) -> str:
        return f"{self.kind:<7} {self.path}"


def compare(before: Fingerprint, after: Fingerprint) -> list[Difference]:
    """What differs, in path order: documents gone, changed, or new."""
    differences = [
        Difference("missing" if path not in after.hashes else "changed", path)
        for path, digest in before.hashes.items()
        if after.hashes.get(path) != digest
    ]
    differences += [Difference("extra", path) for path in after.hashes if path not in before.hashes]
    return sorted(differences, key=lambda d: (d.path, d.kind))


# --- the drill ----------------------------------------------------------------------------
@dataclass
class DrillReport:
    project: str
    host: str
    before: Fingerprint
    after: Fingerprint | None = None
    left_after_wipe: int = -1
    export_metadata: Path | None = None
    export_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not self.differences and self.after is not None

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def counts(self) -> dict[str, int]:
        return self.before.key_counts()

    def narrate(self) -> str:
        lines = [f"Restore drill on {self.host} (project {self.project})"]
        lines.append(
            f"  Before: {len(self.before)} documents in "
            f"{len(self.before.counts())} collections and subcollections"
        )
        for label, count in self.counts().items():
            lines.append(f"    {label:<24} {count}")
        everything = ", ".join(f"{name} {count}" for name, count in self.before.counts().items())
        lines.append(f"    (all: {everything})")
        if self.export_metadata is not None:
            lines.append(f"  Exported {self.export_bytes:,} bytes to {self.export_metadata.parent}")
        if self.left_after_wipe >= 0:
            lines.append(
                f"  Wiped: {self.left_after_wipe} documents or collections left (must be 0)"
            )
        if self.after is not None:
            identical = sum(
                1
                for path, digest in self.before.hashes.items()
                if self.after.hashes.get(path) == digest
            )
            lines.append(
                f"  Imported at start-up: {len(self.after)} documents back, "
                f"{identical} of {len(self.before)} identical by content hash"
            )
        phases = ", ".join(f"{name} {secs:.2f} s" for name, secs in self.seconds.items())
        lines.append(f"  Seconds: {phases} (total {sum(self.seconds.values()):.2f} s)")
        for problem in self.problems:
            lines.append(f"  Problem: {problem}")
        if self.differences:
            shown = self.differences[:SHOWN_DIFFERENCES]
            lines.append(f"  {len(self.differences)} differences; the first {len(shown)}:")
            lines.extend(f"    {difference}" for difference in shown)
        lines.append(f"  {self.verdict}")
        return "\n".join(lines)


@contextlib.contextmanager
def _emulator_env(host: str) -> Iterator[None]:
    """The Firestore client reads the emulator's address from the environment when built."""
    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved


def client_for(emulator: emulators.Emulator, project: str) -> Any:
    from google.cloud import firestore

    with _emulator_env(emulator.host):
        return firestore.Client(project=project)


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def run_drill(emulator: emulators.Emulator, project: str, workdir: Path) -> DrillReport:
    """Fingerprint, export, wipe (and prove it), restart with the import, fingerprint again,
    compare. The emulator ends up running on its port with the imported data, or, if the
    import cannot start, empty (the export stays in `workdir` for another try)."""
    db = client_for(emulator, project)
    try:
        return _drill(emulator, project, Path(workdir), db)
    finally:
        db.close()


def _drill(emulator: emulators.Emulator, project: str, workdir: Path, db: Any) -> DrillReport:
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        report.seconds[phase] = now - clock
        clock = now

    report = DrillReport(project, emulator.host, fingerprint(db))
    lap("fingerprint")
    if not len(report.before):
        report.problems.append("the database is empty: a drill with nothing in it proves nothing")
        return report

    report.export_metadata = emulators.export_firestore(emulator.host, project, workdir)
    report.export_bytes = _size(report.export_metadata.parent)
    lap("export")

    emulators.reset_firestore(emulator.host, project)
    left = fingerprint(db)
    report.left_after_wipe = len(left) + len(list(db.collections()))
    lap("wipe")
    if report.left_after_wipe:
        report.problems.append(f"the wipe left {report.left_after_wipe} documents or collections")
        return report

    try:
        emulator.restart(import_data=report.export_metadata)
    except emulators.EmulatorError as exc:
        report.problems.append(f"the import did not start: {exc}")
        emulator.restart()  # up again, empty, so whatever runs next finds a server
        return report
    restored = client_for(emulator, project)
    try:
        list(restored.collections())  # its first answer after an import takes a second or two
        lap("restart with import")
        report.after = fingerprint(restored)
        lap("fingerprint again")
    finally:
        restored.close()
    report.differences = compare(report.before, report.after)
    if report.after.draft_ids != report.before.draft_ids:
        report.problems.append("the workflows point to other Gmail drafts than before")
    return report


# --- the command: a stack with the demo's first stories, drilled ---------------------------
def _quietly(story: Any, stack: Any, verbose: bool) -> bool:
    if verbose:
        return bool(story(stack))
    with contextlib.redirect_stdout(io.StringIO()):
        return bool(story(stack))


def _approve_and_change_a_flag(stack: Any) -> str:
    """The drafted workflow approved in DRAFT_ONLY mode (no send is scheduled, so the stack
    goes quiet) and a flag changed with a reason: audit records of both kinds."""
    import requests

    from devstack.stack import OPERATOR_ACCOUNT

    url = stack.function_url("operator")
    headers = {"Authorization": f"Bearer {stack.issuer.sign(url, OPERATOR_ACCOUNT)}"}
    db = client_for(stack.firestore, stack.project)
    workflow_id = next(
        d.id
        for d in db.collection("workflows").list_documents()
        if (d.get().to_dict() or {}).get("draft_id")
    )
    shown = requests.get(f"{url}/api/workflows/{workflow_id}", headers=headers, timeout=30)
    digest = shown.json()["gmail_draft"]["content_hash"]
    approved = requests.post(
        f"{url}/api/workflows/{workflow_id}/approve",
        json={"content_hash": digest},
        headers=headers,
        timeout=30,
    )
    approved.raise_for_status()
    flags = requests.patch(
        f"{url}/api/flags",
        json={"changes": {"undo_seconds": 30}, "reason": "restore drill: a change to audit"},
        headers=headers,
        timeout=30,
    )
    flags.raise_for_status()
    return str(workflow_id)


def _still_served(stack: Any, workflow_id: str) -> list[str]:
    """After the restore, the running functions read the restored data: the workflow's Gmail
    draft, the audit log and the voice profile through their own APIs."""
    import requests

    from devstack import seed
    from devstack.stack import OPERATOR_ACCOUNT

    problems = []
    operator = stack.function_url("operator")
    headers = {"Authorization": f"Bearer {stack.issuer.sign(operator, OPERATOR_ACCOUNT)}"}
    shown = requests.get(f"{operator}/api/workflows/{workflow_id}", headers=headers, timeout=30)
    if shown.status_code != 200 or "content_hash" not in (shown.json().get("gmail_draft") or {}):
        problems.append(
            f"workflow {workflow_id}: its Gmail draft is not shown ({shown.text[:200]})"
        )
    audit = requests.get(f"{operator}/api/audit", headers=headers, timeout=30)
    if audit.status_code != 200 or not audit.json().get("entries"):
        problems.append(f"the audit log is empty ({audit.text[:200]})")
    voice = stack.function_url("voice")
    profile = requests.get(
        f"{voice}/profile",
        params={"rep": seed.REP_EMAIL},
        headers={"Authorization": f"Bearer {stack.issuer.sign(voice, OPERATOR_ACCOUNT)}"},
        timeout=30,
    )
    if profile.status_code != 200:
        problems.append(f"the voice profile is not served ({profile.status_code})")
    return problems


def main() -> int:
    from devstack import demo, seed
    from devstack.stack import running_stack

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--verbose", action="store_true", help="show the demo stories' narration")
    args = parser.parse_args()
    demo.say("Restore drill: a local stack with realistic data, exported, wiped and restored")
    started = time.perf_counter()
    with running_stack(project="demo-local") as stack:
        stack.start_functions()
        seed.seed(stack, connect=False)
        print(f"  Stack up and seeded in {time.perf_counter() - started:.1f} s")
        stories = (
            ("mailbox connected", demo.story_connect),
            ("a lead opened a workflow", demo.story_hubspot_lead),
            ("voice trained from samples", demo.story_voice_training),
            ("the lead got a Gmail draft", demo.story_draft),
            ("Drive material as assets", demo.story_assets),
        )
        ok = True
        for what, story in stories:
            began = time.perf_counter()
            played = _quietly(story, stack, args.verbose)
            demo.row(played, what, f"demo story, {time.perf_counter() - began:.1f} s")
            ok = ok and played
        workflow_id = _approve_and_change_a_flag(stack)
        demo.row(True, "draft approved, flag changed", f"workflow {workflow_id}, audited")
        quiet = stack.tasks.wait_idle(60)
        demo.row(quiet, "no task left to run", "the drill needs a quiet system")
        workdir = stack.state_dir / "restore-drill"
        shutil.rmtree(workdir, ignore_errors=True)
        demo.say("The drill")
        assert stack.firestore is not None
        report = run_drill(stack.firestore, stack.project, workdir)
        print(report.narrate())
        served = _still_served(stack, workflow_id) if report.passed else []
        for problem in served:
            demo.row(False, "served after restore", problem)
        if report.passed and not served:
            demo.row(
                True,
                "served after restore",
                "the operator API shows the draft and the audit log; the voice profile answers",
            )
        passed = report.passed and not served and ok and quiet
        demo.say(f"Restore drill: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
