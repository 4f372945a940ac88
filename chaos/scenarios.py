"""The fault scenarios: each runs under load, injects a real fault, and returns the checked report."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

from chaos.check import Report
from chaos.rig import ChaosRig, read_topic, wait_until
from streams.kafka.topic_ends import committed_total
from streams.local.worker_process import WorkerProcess


def _alive(worker: WorkerProcess) -> bool:
    return worker.process is not None and worker.process.poll() is None


# The components of retention_degraded{component} (streams/app.py, _figures): "object_store" while
# deletions wait to be retried, "broker" while the broker does not answer the worker's probe.
def _degraded_metric(worker: WorkerProcess, component: str) -> float | None:
    prefix = f'retention_degraded{{component="{component}"}} '
    for line in worker.metrics().splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def _reported(worker: WorkerProcess, component: str, word: str) -> bool:
    """/health says degraded with a reason naming `word`, and the metric of `component` is 1."""
    health = worker.health() or {}
    listed = health.get("degraded")
    reasons = " ".join(str(r) for r in listed) if isinstance(listed, list) else ""
    return (
        health.get("status") == "degraded" and word in reasons and _degraded_metric(worker, component) == 1.0
    )


def _cleared(worker: WorkerProcess) -> bool:
    return all(_degraded_metric(worker, c) == 0.0 for c in ("object_store", "broker"))


def _degraded(worker: WorkerProcess) -> bool:
    return (worker.health() or {}).get("status") == "degraded"


def _caught_up(worker: WorkerProcess) -> bool:
    health = worker.health() or {}
    return health.get("status") == "ready" and health.get("deletions_outstanding") == 0 and _cleared(worker)


async def _start_with_the_broker_away(rig: ChaosRig, name: str, seconds: float) -> WorkerProcess:
    """Start a worker while the broker is unreachable for `seconds`: it must keep trying, say so in a
    clear log line, and become ready once the broker is back."""
    rig.broker_line.cut()
    worker = rig.worker(name, wait=False)
    await asyncio.sleep(seconds)
    assert _alive(worker), "the worker gave up on the broker"
    assert "broker.unreachable" in worker.log_path.read_text(errors="replace"), "no clear log line"
    rig.broker_line.restore()
    await asyncio.to_thread(worker.wait_ready, 180)
    return worker


async def _restart(rig: ChaosRig, name: str) -> tuple[WorkerProcess, float]:
    started = time.monotonic()
    worker = await asyncio.to_thread(rig.worker, name)
    return worker, time.monotonic() - started


async def killed_repeatedly(rig: ChaosRig, seconds: float, kills: int, seed: int = 1) -> Report:
    """The worker is killed with SIGKILL at random moments and started again each time."""
    chance = random.Random(seed)
    worker = await asyncio.to_thread(rig.worker, "killed-0")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    recoveries = []
    outages: list[tuple[datetime, datetime]] = []  # from each kill to the next worker ready
    for n in range(kills):
        await asyncio.sleep(chance.uniform(2, seconds / kills))
        killed = datetime.now(UTC)
        worker.kill()
        worker, took = await _restart(rig, f"killed-{n + 1}")
        outages.append((killed, datetime.now(UTC)))
        recoveries.append(took)
    await sending
    # Kills can come faster than a worker starts: a deadline that passes while no worker runs waits for
    # the next one, through as many restarts as fall on it (seen: 33.8 s late through two).
    report = await rig.settle_and_check(
        f"worker SIGKILLed {kills} times", load.plan, bound=timedelta(seconds=30), outages=outages
    )
    report.recovery_seconds = max(recoveries)
    return report


async def one_of_two_lost(rig: ChaosRig, seconds: float) -> Report:
    """Two workers share the partitions; one is killed for good and the other takes over."""
    first = await asyncio.to_thread(rig.worker, "pair-a")
    second = await asyncio.to_thread(rig.worker, "pair-b")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(seconds / 3)
    first.kill()
    took = await asyncio.to_thread(
        wait_until, lambda: (second.health() or {}).get("partitions") == [0, 1, 2, 3], 120, "take-over"
    )
    await sending
    report = await rig.settle_and_check(
        "one of two workers killed for good", load.plan, bound=timedelta(seconds=30)
    )
    report.recovery_seconds = took
    return report


async def store_unreachable(rig: ChaosRig, seconds: float, outage: float) -> Report:
    """The S3 endpoint is unreachable for `outage` seconds, then back."""
    worker = await asyncio.to_thread(rig.worker, "store")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(min(5.0, seconds / 4))
    rig.store_line.cut()
    reported = await asyncio.to_thread(
        wait_until,
        lambda: _reported(worker, "object_store", "object store"),
        outage,
        "/health degraded (object store) and retention_degraded{component=object_store} 1",
    )
    await asyncio.sleep(max(0.0, outage - reported))
    rig.store_line.restore()
    took = await asyncio.to_thread(
        wait_until, lambda: _caught_up(worker), 180, "recovery from the store outage"
    )
    assert _alive(worker), "the worker died during the outage"
    await sending
    report = await rig.settle_and_check(
        f"S3 unreachable for {outage:.0f} s", load.plan, bound=timedelta(seconds=outage + 30)
    )
    report.reported_seconds = reported
    report.recovery_seconds = took
    return report


async def broker_unreachable(rig: ChaosRig, seconds: float, at_start: float, outage: float) -> Report:
    """The broker is unreachable while the worker starts, and again for a while during operation."""
    worker = await _start_with_the_broker_away(rig, "broker", at_start)
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(min(5.0, seconds / 4))
    rig.broker_line.cut()
    reported = await asyncio.to_thread(
        wait_until,
        lambda: _reported(worker, "broker", "broker"),
        outage,
        "/health degraded (broker) and retention_degraded{component=broker} 1",
    )
    await asyncio.sleep(max(0.0, outage - reported))
    rig.broker_line.restore()
    took = await asyncio.to_thread(
        wait_until,
        lambda: (worker.health() or {}).get("status") == "ready" and _cleared(worker),
        180,
        "recovery from the broker outage",
    )
    assert _alive(worker), "the worker died during the outage"
    await sending
    report = await rig.settle_and_check(
        f"broker unreachable at start ({at_start:.0f} s) and later ({outage:.0f} s)",
        load.plan,
        bound=timedelta(seconds=outage + 45),
    )
    report.reported_seconds = reported
    report.recovery_seconds = took
    return report


async def every_fault_briefly(rig: ChaosRig, seconds: float = 24, outage: float = 8) -> Report:
    """The short version for `make test`: the broker away at start-up, then under load the store away
    for a while and the worker SIGKILLed and restarted."""
    worker = await _start_with_the_broker_away(rig, "brief", outage)
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(seconds / 4)
    rig.store_line.cut()
    reported = await asyncio.to_thread(
        wait_until,
        lambda: _reported(worker, "object_store", "object store"),
        outage * 4,
        "/health degraded (object store) and retention_degraded{component=object_store} 1",
    )
    await asyncio.sleep(outage)
    rig.store_line.restore()
    await asyncio.sleep(seconds / 4)
    worker.kill()
    worker, took = await _restart(rig, "brief-restarted")
    await sending
    report = await rig.settle_and_check(
        "every fault, briefly", load.plan, bound=timedelta(seconds=outage + 30)
    )
    report.reported_seconds = reported
    report.recovery_seconds = took
    return report


async def burst_then_kill(rig: ChaosRig, alarms: int = 20, rounds: int = 2) -> Report:
    """The worst moment for a restart: alarms in a burst, a hold on each in a burst, and the worker
    SIGKILLed as soon as every hold is accepted and its offset committed, so that the holds live only
    in the worker's state; again for `rounds`. A held object gone from the bucket counts as held
    deleted."""
    worker = await asyncio.to_thread(rig.worker, "burst-0")
    load = rig.load()
    recoveries = []
    for n in range(rounds):
        await load.burst(alarms)
        holds = {plan.hold_id for plan in load.plan.alarms.values() if plan.hold_id is not None}
        await _poll(partial(_all_accepted, rig, holds), 60, "every hold of the burst accepted")
        await _poll(partial(_all_committed, rig, len(holds)), 60, "the holds' offsets committed")
        worker.kill()
        worker, took = await _restart(rig, f"burst-{n + 1}")
        recoveries.append(took)
    report = await rig.settle_and_check(
        f"{alarms} alarms and holds in a burst, then SIGKILL, x{rounds} ({rig.stack.broker_storage} broker)",
        load.plan,
        bound=timedelta(seconds=30),
    )
    report.recovery_seconds = max(recoveries)
    return report


async def _poll(condition: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not await condition():
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise TimeoutError(f"{what} did not happen within {timeout} s") from None


async def _all_accepted(rig: ChaosRig, holds: set[str]) -> bool:
    audit = await read_topic(rig.stack.kafka_bootstrap, "retention-audit")
    return holds <= {r["hold_id"] for r in audit if r["type"] == "hold.accepted"}


async def _all_committed(rig: ChaosRig, holds: int) -> bool:
    options = {"bootstrap_servers": rig.stack.kafka_bootstrap}
    return await committed_total(options, "chaos", "police-holds") >= holds


# --- the durable stack's own servers crash (rig with broker_storage="s3") ----------------------------


async def _crash(
    rig: ChaosRig, worker: WorkerProcess, server: str, down: float
) -> tuple[WorkerProcess, float, float, bool]:
    """SIGKILL `server`, wait until the worker says it is degraded, start the server again on its data
    `down` seconds after the crash (Tansu too, if it died with its store), and wait until the worker is
    ready with nothing outstanding. A worker that exited meanwhile (it does, on purpose, when the broker
    fails a write it cannot be sure of) is started again, as its supervisor would. Returns the worker,
    seconds from the crash to the report and to that recovery, and whether the worker was restarted."""
    crashed = time.monotonic()
    rig.stack.kill(server)
    reported = await asyncio.to_thread(
        wait_until, lambda: _degraded(worker) or not _alive(worker), 60, f"/health degraded ({server})"
    )
    await asyncio.sleep(max(0.0, down - (time.monotonic() - crashed)))
    await asyncio.to_thread(rig.stack.restart, server)
    if not rig.stack.running("tansu"):  # the broker did not survive losing its store
        await asyncio.to_thread(rig.stack.restart, "tansu")
    # As a supervisor would, for as long as recovery takes: the worker's exit can come after the
    # server is back (seen: SeaweedFS SIGKILLed, the worker's send failed at once, but its shutdown
    # waited ~20 s for an offset commit Tansu answered only once its store was back, and it exited
    # just after this check had found it alive; nobody restarted it and the wait below timed out).
    restarted = False
    started = time.monotonic()
    while not await asyncio.to_thread(_caught_up, worker):
        if not _alive(worker):
            restarted = True
            worker, _ = await _restart(rig, f"{server}-supervised")
        if time.monotonic() - started > 180:
            raise TimeoutError(f"recovery from the {server} crash did not happen within 180 s")
        await asyncio.sleep(0.25)
    return worker, reported, time.monotonic() - crashed, restarted


async def _server_killed(rig: ChaosRig, server: str, seconds: float, down: float) -> Report:
    """`server` SIGKILLed under load and started again on its data `down` seconds later. An object due
    while the service could not act may be late by as long as that lasted (crash to recovery), plus
    the usual 30 s."""
    worker = await asyncio.to_thread(rig.worker, f"{server}-killed")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(seconds / 3)
    worker, reported, outage, restarted = await _crash(rig, worker, server, down)
    await sending
    report = await rig.settle_and_check(
        f"{server} SIGKILLed, back after {down:.0f} s"
        + (" (the worker exited and was restarted)" if restarted else "")
        + " (s3 broker)",
        load.plan,
        bound=timedelta(seconds=outage + 30),
    )
    report.reported_seconds = reported
    report.recovery_seconds = outage
    return report


async def broker_killed(rig: ChaosRig, seconds: float, down: float) -> Report:
    """The durable broker SIGKILLed under load, and started again on its log."""
    return await _server_killed(rig, "tansu", seconds, down)


async def store_killed(rig: ChaosRig, seconds: float, down: float) -> Report:
    """SeaweedFS SIGKILLed under load: the media store and the broker's storage at once."""
    return await _server_killed(rig, "seaweedfs", seconds, down)


async def stack_restarted(rig: ChaosRig, seconds: float, down: float) -> Report:
    """What Ctrl-C on `make run` and `make run` again do, in the middle of the load: the worker stopped
    (SIGINT), then the broker and the store, in that order; `down` seconds later the same stack started
    again on its data, and a new worker."""
    worker = await asyncio.to_thread(rig.worker, "stack-first")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    await asyncio.sleep(seconds / 3)
    stopped = time.monotonic()
    await asyncio.to_thread(worker.stop, signal.SIGINT)
    await asyncio.to_thread(rig.stack.stop)
    await asyncio.sleep(down)
    started = time.monotonic()
    await asyncio.to_thread(rig.stack.start)
    worker = await asyncio.to_thread(rig.worker, "stack-second")
    await asyncio.to_thread(wait_until, lambda: _caught_up(worker), 180, "recovery after the restart")
    took = time.monotonic() - started
    outage = time.monotonic() - stopped
    await sending
    report = await rig.settle_and_check(
        f"whole stack stopped for {down:.0f} s and started again (s3 broker)",
        load.plan,
        bound=timedelta(seconds=outage + 30),
    )
    report.recovery_seconds = took
    return report


async def every_crash_briefly(rig: ChaosRig, seconds: float = 30, down: float = 5) -> Report:
    """The short version for `make test`, on the durable stack: under load the broker SIGKILLed and
    restarted, then SeaweedFS (the media and the broker's log), then the worker."""
    worker = await asyncio.to_thread(rig.worker, "crashes")
    load = rig.load()
    sending = asyncio.create_task(load.run(seconds, alarms_per_second=2))
    outages, reports, restarts = [], [], 0
    for server in ("tansu", "seaweedfs"):
        await asyncio.sleep(seconds / 4)
        worker, reported, outage, restarted = await _crash(rig, worker, server, down)
        reports.append(reported)
        outages.append(outage)
        restarts += restarted
    await asyncio.sleep(seconds / 4)
    worker.kill()
    worker, took = await _restart(rig, "crashes-restarted")
    outages.append(took)
    await sending
    report = await rig.settle_and_check(
        "broker, store and worker SIGKILLed in turn (s3 broker)"
        + (f" (the worker exited {restarts}x and was restarted)" if restarts else ""),
        load.plan,
        # The faults come seconds apart, so what falls due in one may wait through the next as well
        # (seen: an alarm held up by the broker's outage reached the worker as SeaweedFS went down).
        bound=timedelta(seconds=sum(outages) + 30),
    )
    report.reported_seconds = max(reports)
    report.recovery_seconds = max(outages)
    return report
