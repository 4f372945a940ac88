"""The topics, defined in one place; agents import these, never the reverse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.settings import TopicNames
from handlers.decoding import InputTopic


@dataclass(frozen=True)
class Topics:
    names: TopicNames
    inputs: Any  # every input topic, as the producers partitioned them: read by the re-keying stage
    alarm_stream: Any  # re-keyed alarm events and police holds, and our internal messages: by alarm
    customer_stream: Any  # re-keyed contract events, erasure confirmations, customer requests
    alarm_stream_out: Any  # where the re-keying stage writes alarm events and holds
    customer_stream_out: Any  # ... and customer events
    audit: Any
    deadletter: Any
    deadletter_keys: Any
    access_log: Any  # who read which personal data through the API (streams/api/access_log.py)
    internal: Any
    holds_out: Any  # the API produces hold events here, as any other producer of the contract
    erasure_commands: Any
    request_outcomes: Any
    requests_out: Any  # the API produces customer requests here

    def input_kind(self, topic: str) -> InputTopic | None:
        return {
            self.names.alarm_events: InputTopic.ALARMS,
            self.names.police_holds: InputTopic.HOLDS,
            self.names.contract_events: InputTopic.CONTRACTS,
            self.names.erasure_confirmations: InputTopic.CONFIRMATIONS,
            self.names.customer_requests: InputTopic.REQUESTS,
        }.get(topic)


def define_topics(app: Any, names: TopicNames) -> Topics:
    def raw(*topic_names: str) -> Any:
        return app.topic(
            *topic_names,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    return Topics(
        names=names,
        inputs=raw(
            names.alarm_events,
            names.police_holds,
            names.contract_events,
            names.erasure_confirmations,
            names.customer_requests,
        ),
        alarm_stream=raw(names.alarm_stream, names.internal),
        customer_stream=raw(names.customer_stream),
        alarm_stream_out=raw(names.alarm_stream),
        customer_stream_out=raw(names.customer_stream),
        audit=raw(names.audit),
        deadletter=raw(names.deadletter),
        deadletter_keys=raw(names.deadletter_keys),
        access_log=raw(names.access_log),
        internal=raw(names.internal),
        holds_out=raw(names.police_holds),
        erasure_commands=raw(names.erasure_commands),
        request_outcomes=raw(names.request_outcomes),
        requests_out=raw(names.customer_requests),
    )
