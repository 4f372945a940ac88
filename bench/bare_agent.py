"""The ingest baseline: a faust agent on the same broker that only decodes each record's JSON.

python -m bench.bare_agent BOOTSTRAP TOPIC COUNT APP_ID: prints {"first", "last", "count"} (time.time()
of the first and the last record) once COUNT records are decoded, then exits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import faust


def main() -> None:
    bootstrap, topic_name, count, app_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.2,
        datadir=f"/tmp/{app_id}-data",  # noqa: S108 - a throwaway folder for a throwaway app
    )
    topic = app.topic(
        topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    seen = {"count": 0, "first": 0.0}

    @app.agent(topic)
    async def decode(stream: Any) -> None:
        async for value in stream:
            json.loads(value)
            seen["count"] += 1
            if seen["count"] == 1:
                seen["first"] = time.time()
            if seen["count"] == count:
                print(json.dumps({"first": seen["first"], "last": time.time(), "count": count}), flush=True)
                os._exit(0)

    faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
