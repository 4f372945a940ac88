"""`python -m streams worker`: the retention worker, configured by environment variables.

`python -m streams projector`: the archive's writer (streams/projector/), into DATABASE_URL;
`python -m streams api`: the HTTP API and dashboard alone, reading the archive (streams/api/main.py).
Also `python -m streams local` (the worker on the embedded local stack, what `make run` calls; it keeps
its data in .local-stack/ across runs), `python -m streams reset` (wipes that, `make reset`) and
`python -m streams demo` (a sample alarm on the local stack, to watch its media be deleted).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _pseudonym(settings: Any) -> Any:
    from streams.protection.pseudonyms import Pseudonyms

    return Pseudonyms(settings.pseudonym_secret()).customer


def _secure_enough(settings: Any) -> bool:
    """Outside the local stack (which sets them all), a worker or an API without hold signing keys,
    API tokens, chain keys, an anchor bucket or a pseudonym key is refused, unless ALLOW_INSECURE
    says otherwise, and then it says so at every start."""
    import structlog

    missing = settings.insecure()
    if settings.audit_anchor_bucket:
        from streams.audit.anchor import AuditAnchor
        from streams.s3.client import make_s3_client

        anchor = AuditAnchor(
            make_s3_client(settings), settings.audit_anchor_bucket, "", settings.audit_retention
        )
        problem = anchor.check_bucket()
        if problem is not None:
            missing.append(problem)
    if not missing:
        return True
    if settings.allow_insecure:
        structlog.get_logger("streams").warning(
            "INSECURE: started without what a production deployment needs (ALLOW_INSECURE=true)",
            missing=missing,
        )
        return True
    print("refusing to start without:\n  " + "\n  ".join(missing), file=sys.stderr)
    print("(set them, or ALLOW_INSECURE=true for a trial; `make run` sets them all)", file=sys.stderr)
    return False


def worker() -> int:
    import faust

    from config.logging import configure_logging, logging_dict_config
    from config.settings import SettingsError, load_settings
    from streams.app import build_app
    from streams.clock import SystemClock
    from streams.kafka.topology import TopologyError, prepare_topics
    from streams.s3.client import make_s3_client
    from streams.s3.object_store import S3ObjectStore

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, _pseudonym(settings))
    if not _secure_enough(settings):
        return 2
    try:
        partitions = asyncio.run(prepare_topics(settings))
    except TopologyError as exc:
        print(f"topic error: {exc}", file=sys.stderr)
        return 2
    executor = ThreadPoolExecutor(settings.s3_max_workers, thread_name_prefix="s3")
    store = S3ObjectStore(make_s3_client(settings), executor)
    retention = build_app(settings, partitions, store, SystemClock())
    faust.Worker(
        retention.app,
        loglevel=settings.log_level,
        logging_config=logging_dict_config(settings.log_level, settings.log_format),
        quiet=True,
        redirect_stdouts=False,
    ).execute_from_commandline()
    return 0


def with_database(command: str) -> int:
    """`projector` or `api`: both need the archive (DATABASE_URL)."""
    from config.logging import configure_logging
    from config.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.database_url is None:
        print(f"DATABASE_URL: the {command} needs the archive's database (postgresql://...)", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, _pseudonym(settings))
    if command == "api" and not _secure_enough(settings):
        return 2
    if command == "projector":
        from streams.projector.main import main as run_projector

        return run_projector(settings)
    from streams.api.main import main as run_api

    return run_api(settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("worker", help="run the retention worker against KAFKA_BOOTSTRAP_SERVERS and S3")
    commands.add_parser("projector", help="copy the audit trail and the tables' changelogs into DATABASE_URL")
    commands.add_parser("api", help="the HTTP API and dashboard alone, reading DATABASE_URL (any number)")
    commands.add_parser("local", help="start Tansu and SeaweedFS locally and run the worker on them")
    commands.add_parser("reset", help="wipe the local stack's data (the next `local` starts empty)")
    demo = commands.add_parser("demo", help="store a sample alarm's media on the local stack and watch it go")
    demo.add_argument("--objects", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "worker":
        return worker()
    if args.command in ("projector", "api"):
        return with_database(args.command)
    if args.command == "local":
        from streams.local.stack import run_local

        return run_local()
    if args.command == "reset":
        from streams.local.stack import reset_local

        return reset_local()
    from streams.local.demo import run_demo

    return run_demo(args.objects)


if __name__ == "__main__":
    sys.exit(main())
