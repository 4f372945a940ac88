"""Which alarms of a customer a worker holds, in memory and on disk: the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.worker.customer_alarms import CustomerAlarms, CustomerAlarmsInMemory, CustomerAlarmsOnDisk


@pytest.fixture(params=["memory", "disk"])
def alarms(request: pytest.FixtureRequest, tmp_path: Path) -> CustomerAlarms:
    return CustomerAlarmsInMemory() if request.param == "memory" else CustomerAlarmsOnDisk(tmp_path / "db")


def test_a_customers_alarms_come_back_sorted_and_only_theirs(alarms: CustomerAlarms) -> None:
    alarms.add("c-1", "alarm-b")
    alarms.add("c-1", "alarm-a")
    alarms.add("c-10", "alarm-x")  # a customer whose id starts with another's
    alarms.add("c-2", "alarm-c")
    assert alarms.of("c-1") == ["alarm-a", "alarm-b"]
    assert alarms.of("c-10") == ["alarm-x"]
    assert alarms.of("c-3") == []


def test_an_alarm_whose_record_ended_is_no_longer_the_customers(alarms: CustomerAlarms) -> None:
    alarms.add("c-1", "alarm-a")
    alarms.add("c-1", "alarm-a")  # again: still once
    alarms.add("c-1", "alarm-b")
    alarms.discard("c-1", "alarm-a")
    alarms.discard("c-1", "alarm-z")  # never added: nothing happens
    assert alarms.of("c-1") == ["alarm-b"]


def test_clearing_forgets_everything(alarms: CustomerAlarms) -> None:
    alarms.add("c-1", "alarm-a")
    alarms.clear()
    assert alarms.of("c-1") == []
