"""The alarms table's changelog format reads back exactly what was written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.state import (
    AlarmState,
    Hold,
    MediaObject,
    MediaStatus,
    Rule,
    decode_state,
    encode_state,
)

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
optional_times = st.none() | times
text = st.text(min_size=1, max_size=30)

media = st.builds(
    MediaObject,
    bucket=text,
    key=text,
    status=st.sampled_from(MediaStatus),
    added_by=text,
    due_at=optional_times,
    due_rule=st.none() | st.sampled_from(Rule),
    deletion_started_at=optional_times,
    deleted_at=optional_times,
)
holds = st.builds(
    Hold,
    hold_id=text,
    case_reference=st.none() | text,
    placed_by=st.none() | text,
    placed_at=optional_times,
    placed_event_id=st.none() | text,
    released_at=optional_times,
    released_by=st.none() | text,
    released_event_id=st.none() | text,
    recorded_at=optional_times,
)
states = st.builds(
    AlarmState,
    alarm_id=text,
    customer_id=st.none() | text,
    triggered_at=optional_times,
    media=st.lists(media, max_size=5).map(tuple),
    holds=st.lists(holds, max_size=3).map(tuple),
    contract_ended_at=optional_times,
    deadline=optional_times,
    deadline_rule=st.none() | st.sampled_from(Rule),
    deadline_cause=st.none() | text,
    hold_warning_sent=st.booleans(),
)


@given(states)
def test_a_state_survives_the_round_trip(state: AlarmState) -> None:
    assert decode_state(encode_state(state)) == state


def test_an_unknown_format_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="unknown alarm state format"):
        decode_state(b'{"v": 99}')
