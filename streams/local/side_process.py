"""The projector and the API as processes of their own, beside a WorkerProcess (for tests and
benchmarks): they are given the worker's settings (its topics, its DATABASE_URL) and a port of their own."""

from __future__ import annotations

import os
from pathlib import Path

from streams.local.service_process import ServiceProcess
from streams.local.stack import _free_port
from streams.local.worker_process import WorkerProcess


class SideProcess(ServiceProcess):
    port_setting = ""

    def __init__(self, worker: WorkerProcess, log_path: Path, **settings: str) -> None:
        port = _free_port()
        environment = {**os.environ, **worker.environment, self.port_setting: str(port), **settings}
        assert "DATABASE_URL" in environment, "the worker was given no DATABASE_URL"
        super().__init__(environment, log_path, port)


class ProjectorProcess(SideProcess):
    """Reads the topics the worker writes into the worker's DATABASE_URL. Ready: it has read every
    partition of its topics to the end once."""

    command = "projector"
    port_setting = "PROJECTOR_WEB_PORT"


class ApiProcess(SideProcess):
    """The API alone, reading the worker's DATABASE_URL. Ready: the archive has caught up and the broker
    answers."""

    command = "api"
    port_setting = "WEB_PORT"
