"""Answering the customer's requests (handlers/customer_rights.py): each request gets an answer on
`customer-request-outcomes` and a record in the audit trail.

The answer is computed from the read model, which holds every alarm of the customer whichever worker
owns it; erasure and restriction are then carried out by every partition on its own alarms (the
service broadcasts the request through the internal topic), by the same rule the answer states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from handlers.audit import AuditType, audit_record
from handlers.customer_rights import (
    Disclosed,
    RequestAnswered,
    ServiceRecords,
    answer_access,
    answer_erasure,
    answer_restriction,
)
from handlers.events import AccessRequested, CustomerRequest, ErasureRequested
from handlers.policy import RetentionPolicy
from streams.audit.chain import AuditChain
from streams.clock import Clock
from streams.tables.customers import CustomerTable
from streams.worker.read_model import ReadModel

log = structlog.get_logger(__name__)
READ_MODEL_WAIT_SECONDS = 30.0


class CustomerRequests:
    def __init__(
        self,
        *,
        read_model: ReadModel,
        customers: CustomerTable,
        policy: RetentionPolicy,
        clock: Clock,
        audit_chain: AuditChain,
        outcomes_topic: object,
        audit_fields: Callable[[int, str], ServiceRecords | None] = lambda _partition, _customer: None,
        recorded_disclosures: Callable[[str], Awaitable[list[dict[str, Any]]]] | None = None,
    ) -> None:
        """`audit_fields`: what the partition's key of the customer says of their fields in the audit
        trail (streams/protection/)."""
        self._read_model = read_model
        self._customers = customers
        self._policy = policy
        self._clock = clock
        self._audit_chain = audit_chain
        self._outcomes = outcomes_topic
        self._audit_fields = audit_fields
        self._recorded_disclosures = recorded_disclosures  # the archive's media.disclosed records

    async def answer(self, request: CustomerRequest, partition: int) -> RequestAnswered:
        await self._caught_up()
        now = self._clock.now()
        states = await self._read_model.customer_alarms(request.customer_id)
        if isinstance(request, AccessRequested):
            other = self._customers.get(request.customer_id)
            fields = self._audit_fields(partition, request.customer_id)
            recorded = await self._disclosures_recorded(request.customer_id)
            answer = answer_access(
                request.request_id, request.customer_id, states, other, now, self._policy, fields, recorded
            )
        elif isinstance(request, ErasureRequested):
            answer = answer_erasure(request.request_id, request.customer_id, states, now, self._policy)
        else:
            answer = answer_restriction(request.request_id, request.customer_id, states, now, self._policy)
        self._outcomes.send_soon(  # type: ignore[attr-defined]
            key=request.customer_id.encode("utf-8"), value=answer.model_dump_json().encode("utf-8")
        )
        details = {
            "request_id": request.request_id,
            "kind": answer.kind,
            "requested_by": request.requested_by,
            "media_listed": str(len(answer.media)),
            "media_kept_for_police": str(len(answer.kept)),
        }
        record = audit_record(
            AuditType.REQUEST_ANSWERED,
            occurred_at=now,
            alarm_id=None,
            customer_id=request.customer_id,
            caused_by=request.event_id,
            details=details,
        )
        self._audit_chain.publish(partition, request.customer_id, record)
        log.info(  # who asked is a person's name: in the audit record, not the log
            "customer.request_answered",
            customer_id=request.customer_id,
            **{k: v for k, v in details.items() if k != "requested_by"},
        )
        return answer

    async def _disclosures_recorded(self, customer_id: str) -> list[Disclosed]:
        if self._recorded_disclosures is None:
            return []
        return [
            Disclosed(
                handover_id=str(r["details"].get("handover_id", r["audit_id"])),
                alarm_id=str(r.get("alarm_id")),
                objects=sorted({str(o["key"]) for o in r.get("objects", [])}),
                recipient=str(r["details"].get("recipient", "")),
                unit=r["details"].get("unit") or None,
                disclosed_at=datetime.fromisoformat(str(r["occurred_at"]).replace("Z", "+00:00")),
                legal_basis=str(r["details"].get("legal_basis", "")),
            )
            for r in await self._recorded_disclosures(customer_id)
        ]

    async def _caught_up(self) -> None:
        """Right after a start the read model may still be loading: an answer from it would omit media."""
        for _ in range(int(READ_MODEL_WAIT_SECONDS * 10)):
            if await self._read_model.caught_up():
                return
            await asyncio.sleep(0.1)
        raise RuntimeError("the read model did not catch up; the request waits in the dead-letter topic")
