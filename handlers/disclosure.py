"""A handover of held media to the police is a disclosure of personal data to a third party: recorded in
the audit trail (`media.disclosed`) and in the alarm's state, so that the customer's access answer can say
what was passed on, to which category of recipient, when and on which legal basis (GDPR Art. 15(1)(c)).

Whether a handover may happen at all (an active hold of the asking unit, media still there) is decided
by the API before any link is made; this only records what was handed over.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from handlers.audit import AuditType, audit_record
from handlers.commands import MediaDisclosed
from handlers.policy import Outcome
from handlers.state import AlarmState, Disclosure

RECIPIENT = "police (a public authority with a legal basis)"
LEGAL_BASIS = "GDPR Art. 6(1)(c) and (e): a police request in a criminal investigation (the police hold)"


def on_media_disclosed(state: AlarmState | None, command: MediaDisclosed, now: datetime) -> Outcome:
    current = state or AlarmState(alarm_id=command.alarm_id)
    disclosure = Disclosure(
        handover_id=command.event_id,
        hold_id=command.hold_id,
        recipient=RECIPIENT,
        unit=command.unit,
        objects=tuple((o.bucket, o.key) for o in command.objects),
        disclosed_at=command.disclosed_at,
        legal_basis=LEGAL_BASIS,
        manifest_sha256=command.manifest_sha256,
    )
    hold = current.find_hold(command.hold_id)
    details = {
        "handover_id": command.event_id,
        "recipient": RECIPIENT,
        "unit": command.unit or "",
        "requested_by": command.requested_by,  # the liaison: the hold's (sealed under its key)
        "manifest_sha256": command.manifest_sha256,
        "legal_basis": LEGAL_BASIS,
        "versions": str(len(command.objects)),
    }
    case = (hold.case_reference if hold is not None else None) or command.case_reference
    if case:
        details["case_reference"] = case
    audit = audit_record(
        AuditType.DISCLOSED,
        occurred_at=now,
        alarm_id=current.alarm_id,
        customer_id=current.customer_id or command.customer_id,
        caused_by=command.event_id,
        hold_id=command.hold_id,
        objects=dict.fromkeys((o.bucket, o.key) for o in command.objects),
        details=details,
    )
    if current.ended or any(d.handover_id == command.event_id for d in current.disclosures):
        return Outcome(current, audit=(audit,))  # recorded; nothing of it kept in a marker, nor twice
    return Outcome(replace(current, disclosures=(*current.disclosures, disclosure)), audit=(audit,))
