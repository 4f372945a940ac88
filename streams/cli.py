"""`retention`: the command line of the police liaison, the operators and the auditor.

It talks to the HTTP API with the token in RETENTION_API_TOKEN, at RETENTION_API_URL. Readable tables
by default; `--json` prints what the API answered, for scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from tabulate import tabulate

from config.schedule import ScheduleError, load_schedule
from handlers.schedule import render_json, render_markdown, render_record_of_processing
from streams.api.auth import ROLES, hash_token, new_token

DEFAULT_URL = "http://127.0.0.1:6066"


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="retention", description=__doc__)
    parser.add_argument("--url", default=os.environ.get("RETENTION_API_URL", DEFAULT_URL))
    parser.add_argument("--json", action="store_true", help="print the API's JSON answer")
    groups = parser.add_subparsers(dest="group", required=True)

    holds = groups.add_parser("holds", help="police holds").add_subparsers(dest="command", required=True)
    place = holds.add_parser("place", help="place a hold on an alarm's media")
    place.add_argument("alarm_id")
    place.add_argument("--case", required=True, dest="case_reference", help="the police case reference")
    place.add_argument("--requested-by", help="who asked, e.g. the investigating officer")
    release = holds.add_parser("release", help="release a hold")
    release.add_argument("hold_id")
    release.add_argument("--alarm", dest="alarm_id", help="needed only if the hold is not known yet")
    handing = holds.add_parser(
        "handover",
        help="collect a hold's media: every version, checked against the signed manifest",
    )
    handing.add_argument("hold_id")
    handing.add_argument("--out", type=Path, required=True, help="a new (or empty) folder to download into")
    rechecking = holds.add_parser(
        "check", help="check a handover folder again: the signature, every file, nothing added"
    )
    rechecking.add_argument("folder", type=Path)
    listing = holds.add_parser("list", help="active holds and their expiry")
    listing.add_argument("--expiring", action="store_true", help="only those within the warning window")

    alarm = groups.add_parser("alarm", help="one alarm").add_subparsers(dest="command", required=True)
    alarm.add_parser("show", help="its media, deadlines and holds").add_argument("alarm_id")
    alarm.add_parser("audit", help="its audit trail").add_argument("alarm_id")

    customer = groups.add_parser("customer", help="one customer").add_subparsers(
        dest="command", required=True
    )
    customer.add_parser("media", help="its media and deadlines").add_argument("customer_id")
    customer.add_parser("erasures", help="its erasure commands to other systems").add_argument("customer_id")
    rights = customer.add_parser("request", help="the customer's request: access, erasure or restriction")
    rights.add_argument("kind", choices=["access", "erasure", "restriction"])
    rights.add_argument("customer_id")
    rights.add_argument("--requested-by", help="who asked, if not you")

    archive = groups.add_parser("archive", help="the archive (PostgreSQL): the whole trail, for years")
    archive_commands = archive.add_subparsers(dest="command", required=True)
    archive_commands.add_parser(
        "deletions", help="every deletion of a customer's data (media, erasures confirmed)"
    ).add_argument("customer_id")
    archive_commands.add_parser("customer", help="every audit record about a customer").add_argument(
        "customer_id"
    )
    archive_commands.add_parser("alarm", help="every audit record of an alarm").add_argument("alarm_id")
    archive_commands.add_parser("case", help="every hold of a police case and how it ended").add_argument(
        "case_reference"
    )

    groups.add_parser("summary", help="the dashboard's figures")

    sweep = groups.add_parser("sweep", help="the reconciliation sweep of the media buckets")
    sweep_commands = sweep.add_subparsers(dest="command", required=True)
    run = sweep_commands.add_parser("run", help="sweep now and wait for the result")
    run.add_argument("--wait", type=float, default=600.0, help="seconds to wait for it (0: do not wait)")
    sweep_commands.add_parser("show", help="the last completed sweep")

    letters = groups.add_parser("deadletters", help="the dead-letter topic itself (reads Kafka, not the API)")
    letters_commands = letters.add_subparsers(dest="command", required=True)
    show_letters = letters_commands.add_parser(
        "show",
        help="the latest dead letters with the producer's bytes, while their key lives (to fix and replay)",
    )
    show_letters.add_argument("--topic", default=os.environ.get("TOPICS__DEADLETTER", "retention-deadletter"))
    show_letters.add_argument(
        "--keys-topic", default=os.environ.get("TOPICS__DEADLETTER_KEYS", "retention-deadletter-keys")
    )
    show_letters.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    show_letters.add_argument("--limit", type=int, default=20)

    audit = groups.add_parser("audit", help="the audit topic itself (reads Kafka, not the API)")
    audit_commands = audit.add_subparsers(dest="command", required=True)
    check = audit_commands.add_parser("verify", help="check the hash chain of every partition")
    check.add_argument("--topic", default=os.environ.get("TOPICS__AUDIT", "retention-audit"))
    check.add_argument(
        "--checkpoints",
        default=os.environ.get("TOPICS__AUDIT_CHECKPOINTS", "retention-audit-checkpoints"),
        help="the topic of the chains' checkpoints",
    )
    check.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    check.add_argument(
        "--chain-keys-file",
        type=Path,
        default=os.environ.get("AUDIT_CHAIN_KEYS_FILE"),
        help="the chain keys as JSON {id: secret} (default: AUDIT_CHAIN_KEYS from the environment)",
    )
    check.add_argument(
        "--legacy-unkeyed",
        action="store_true",
        help="the trail began before chains were keyed: accept unkeyed records before each partition's "
        "first keyed one (a partition with none keyed yet then proves nothing against appended records)",
    )
    check.add_argument(
        "--anchor-bucket",
        default=os.environ.get("AUDIT_ANCHOR_BUCKET"),
        help="the Object Lock bucket of the chains' checkpoints (S3_ENDPOINT_URL, AWS_* as the worker's)",
    )

    schedule = groups.add_parser("schedule", help="the retention schedule (config/retention-schedule.toml)")
    schedule.add_argument("--format", choices=["markdown", "json", "record"], default="markdown")
    schedule.add_argument("--file", type=Path, help="another schedule file")

    contract = groups.add_parser("contract", help="the event contract")
    contract.add_subparsers(dest="command", required=True).add_parser(
        "examples", help="an example of every payload, made by the code (the README's examples)"
    )

    token = groups.add_parser("token", help="tokens").add_subparsers(dest="command", required=True)
    create = token.add_parser("new", help="make a token and the API_TOKENS entry that admits it")
    create.add_argument("--name", required=True, help="the identity recorded in events and the audit trail")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--unit", help="a police liaison's unit (required for that role): the holds it sees")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.group == "token":
            return _new_token(args)
        if args.group == "schedule":
            schedule = load_schedule(args.file)
            render = {"markdown": render_markdown, "json": render_json, "record": render_record_of_processing}
            print(render[args.format](schedule), end="")
            return 0
        if args.group == "audit":
            return asyncio.run(_verify_audit(args))
        if args.group == "deadletters":
            return asyncio.run(_show_dead_letters(args))
        if args.group == "contract":
            from streams.api.contract_examples import readme_blocks

            print("\n\n".join(readme_blocks().values()))
            return 0
        client = _client(args.url)
        return _run(args, client)
    except (CliError, ScheduleError) as exc:
        print(f"retention: {exc}", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"retention: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1


def _client(url: str) -> httpx.Client:
    token = os.environ.get("RETENTION_API_TOKEN")
    if not token:
        raise CliError("set RETENTION_API_TOKEN to your token")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=15)


HANDOVER_WAIT_SECONDS = 1800.0


def _call(
    client: httpx.Client,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> Any:
    answer = client.request(method, path, json=body, timeout=timeout if timeout else client.timeout)
    if answer.status_code >= 400:
        try:
            problem = answer.json()
            raise CliError(f"{answer.status_code} {problem['error']}: {problem['detail']}")
        except (ValueError, KeyError):
            raise CliError(f"{answer.status_code}: {answer.text[:200]}") from None
    return answer.json()


def _run(args: argparse.Namespace, client: httpx.Client) -> int:
    group, command = args.group, getattr(args, "command", None)
    if group == "holds" and command == "place":
        body = {"alarm_id": args.alarm_id, "case_reference": args.case_reference}
        if args.requested_by:
            body["requested_by"] = args.requested_by
        answer = _call(client, "POST", "/api/v1/holds", body)
        return _show(args, answer, lambda a: _hold_answer(a))
    if group == "holds" and command == "release":
        answer = _call(client, "POST", f"/api/v1/holds/{args.hold_id}/release", {"alarm_id": args.alarm_id})
        return _show(args, answer, lambda a: _hold_answer(a))
    if group == "holds" and command == "handover":
        return _handover(args, client)
    if group == "holds" and command == "check":
        return _recheck(args, client)
    if group == "holds" and command == "list":
        answer = _call(client, "GET", "/api/v1/holds" + ("?expiring=true" if args.expiring else ""))
        return _show(args, answer, _holds_table)
    if group == "alarm" and command == "show":
        return _show(args, _call(client, "GET", f"/api/v1/alarms/{args.alarm_id}"), _alarm_text)
    if group == "alarm" and command == "audit":
        return _show(args, _call(client, "GET", f"/api/v1/alarms/{args.alarm_id}/audit"), _audit_table)
    if group == "customer" and command == "erasures":
        answer = _call(client, "GET", f"/api/v1/customers/{args.customer_id}/erasures")
        return _show(args, answer, _erasures_table)
    if group == "customer" and command == "request":
        body = {"kind": args.kind, **({"requested_by": args.requested_by} if args.requested_by else {})}
        answer = _call(client, "POST", f"/api/v1/customers/{args.customer_id}/requests", body)
        return _show(args, answer, _request_text)
    if group == "customer":
        answer = _call(client, "GET", f"/api/v1/customers/{args.customer_id}/media")
        return _show(args, answer, lambda a: "\n\n".join(_alarm_text(alarm) for alarm in a["alarms"]))
    if group == "sweep":
        return _sweep(args, client)
    if group == "archive" and command == "case":
        answer = _call(client, "GET", f"/api/v1/archive/cases/{quote(args.case_reference, safe='')}/holds")
        return _show(args, answer, _case_table)
    if group == "archive":
        about = "alarms" if command == "alarm" else "customers"
        trail = "deletions" if command == "deletions" else "audit"
        key = args.alarm_id if command == "alarm" else args.customer_id
        path = f"/api/v1/archive/{about}/{quote(key, safe='')}/{trail}"
        return _show(args, {"records": _every_page(client, path)}, _audit_table)
    answer = _call(client, "GET", "/api/v1/summary")
    return _show(args, answer, _summary_text)


def _every_page(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    """The archive answers a page at a time: follow the cursors to the last page."""
    records: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = _call(client, "GET", path + "?limit=1000" + (f"&cursor={quote(cursor)}" if cursor else ""))
        records.extend(answer["records"])
        cursor = answer["next_cursor"]
        if cursor is None:
            return records


def _case_table(answer: dict[str, Any]) -> str:
    rows = [
        [h["hold_id"], h["alarm_id"], h["placed_at"], h["placed_by"] or "", h["kept_until"] or "",
         h["ended_by"] or "active", h["ended_at"] or ""]
        for h in answer["holds"]
    ]  # fmt: skip
    headers = ["hold", "alarm", "placed", "by", "kept until", "ended", "when"]
    return f"case {answer['case_reference']}: {len(rows)} hold(s)\n" + tabulate(rows, headers=headers)


def _erasures_table(answer: dict[str, Any]) -> str:
    rows = [[e["rule"], e["category"], e["system"], e["action"], e["due_at"], e["status"], e["attempts"]]
            for e in answer["erasures"]]  # fmt: skip
    return tabulate(rows, headers=["rule", "category", "system", "action", "due", "status", "sent"])


def _request_text(answer: dict[str, Any]) -> str:
    head = f"{answer['kind']} request {answer['request_id']} for {answer['customer_id']}: {answer['status']}"
    result = answer.get("answer")
    if not result:
        return head + " (the answer follows on customer-request-outcomes; see GET /api/v1/requests/ID)"
    rows = [[m["alarm_id"], m["bucket"], m["key"], m["status"], m["deadline"] or "",
             "kept for the police until " + m["kept_until"] if m["kept_for_police"] else ""]
            for m in result["media"] + result.get("kept", [])]  # fmt: skip
    table = (
        tabulate(rows, headers=["alarm", "bucket", "key", "status", "deadline", "note"])
        if rows
        else "no media"
    )
    extra = [f"\n{result['kept_because']}"] if result.get("kept_because") else []
    return "\n\n".join([head, table, *extra])


def _sweep(args: argparse.Namespace, client: httpx.Client) -> int:
    if args.command == "show":
        return _show(args, _call(client, "GET", "/api/v1/sweeps/latest"), _sweep_text)
    started = _call(client, "POST", "/api/v1/sweeps")
    if args.wait <= 0:
        return _show(args, started, lambda a: f"sweep {a['sweep_id']} started")
    give_up = time.monotonic() + args.wait
    while time.monotonic() < give_up:
        answer = client.get("/api/v1/sweeps/latest")
        if answer.status_code == 200 and answer.json()["sweep_id"] == started["sweep_id"]:
            report = answer.json()
            _show(args, report, _sweep_text)
            return 0 if report["status"] == "completed" else 1
        time.sleep(1)
    raise CliError(f"sweep {started['sweep_id']} did not finish within {args.wait:.0f} s")


def _sweep_text(answer: dict[str, Any]) -> str:
    head = f"sweep {answer['sweep_id']} ({answer['requested_by']}): {answer['status']}"
    if answer.get("error"):
        head += f" - {answer['error']}"
    counts = tabulate([[k.replace("_", " "), v] for k, v in answer["counts"].items()])
    rows = [
        [r["type"], o["bucket"], o["key"], r["details"].get("outcome", "")]
        for r in answer["findings"]
        for o in r.get("objects", [])
    ]
    found = tabulate(rows, headers=["finding", "bucket", "key", "outcome"]) if rows else "no findings"
    return f"{head}\n\n{counts}\n\n{found}"


def _show(args: argparse.Namespace, answer: Any, render: Any) -> int:
    print(json.dumps(answer, indent=2) if args.json else render(answer))
    return 0


def _hold_answer(answer: dict[str, Any]) -> str:
    lines = [f"hold {answer['hold_id']} on alarm {answer['alarm_id']}: {answer['status']}"]
    if answer.get("kept_until"):
        lines.append(f"media kept until {answer['kept_until']} ({_left(answer['kept_until'])} left)")
    if answer.get("reason"):
        lines.append(f"reason: {answer['reason']}")
    if answer["status"] == "submitted":
        lines.append("the service has not answered yet; see `retention alarm show` shortly")
    return "\n".join(lines)


def _holds_table(answer: dict[str, Any]) -> str:
    rows = [
        [
            h["hold_id"],
            h["alarm_id"],
            h["case_reference"],
            h["placed_by"],
            h["expires_at"],
            _left(h["expires_at"]),
        ]
        for h in answer["holds"]
    ]
    return (
        tabulate(rows, headers=["hold", "alarm", "case", "placed by", "expires", "left"])
        if rows
        else "no holds"
    )


def _alarm_text(alarm: dict[str, Any]) -> str:
    head = [f"alarm {alarm['alarm_id']}", f"triggered {alarm['triggered_at']}"]
    if alarm.get("customer_id"):
        head.append(f"customer {alarm['customer_id']}")
    media = [
        [m["bucket"], m["key"], m["status"], m["deadline"] or "", m["rule"] or "", m["deleted_at"] or "",
         "yes" if m["legal_hold"] else ""]
        for m in alarm["media"]
    ]  # fmt: skip
    holds = [
        [h["hold_id"], h["state"], h["case_reference"], h["placed_by"], h["reason"] or ""]
        for h in alarm["holds"]
    ]
    parts = [
        "  ".join(head),
        tabulate(media, headers=["bucket", "key", "status", "deadline", "rule", "deleted", "legal hold"]),
    ]
    if holds:
        parts.append(tabulate(holds, headers=["hold", "state", "case", "placed by", "reason"]))
    return "\n\n".join(parts)


def _audit_table(answer: dict[str, Any]) -> str:
    rows = [
        [r.get("occurred_at"), r.get("type"), _objects_or_hold(r), r.get("deadline") or "",
         _who_or_why(r.get("details", {})), r.get("caused_by")]
        for r in answer["records"]
    ]  # fmt: skip
    return tabulate(rows, headers=["when", "what", "object / hold", "deadline", "by / why", "caused by"])


def _objects_or_hold(record: dict[str, Any]) -> str:
    objects = record.get("objects", [])
    if not objects:
        return str(record.get("hold_id") or "")
    first = objects[0]["key"]
    return first if len(objects) == 1 else f"{first} and {len(objects) - 1} more"


def _who_or_why(details: dict[str, str]) -> str:
    for name in ("placed_by", "released_by", "reason", "lateness_seconds", "kept_for_holds"):
        if details.get(name):
            value = details[name]
            return f"{value} s late" if name == "lateness_seconds" else value
    return ""


def _summary_text(answer: dict[str, Any]) -> str:
    keys = ["pending", "deleting", "deleted", "overdue", "active_holds", "holds_expiring_soon"]
    return tabulate([[k.replace("_", " "), answer[k]] for k in keys])


def _left(moment: str) -> str:
    seconds = (datetime.fromisoformat(moment) - datetime.now(UTC)).total_seconds()
    if seconds <= 0:
        return "none"
    days, rest = divmod(int(seconds), 86400)
    return f"{days} d {rest // 3600} h" if days else f"{rest // 3600} h {rest % 3600 // 60} min"


async def _show_dead_letters(args: argparse.Namespace) -> int:
    """The latest dead letters, one JSON object a line, with the producer's key and value opened (base64,
    and as text where it is UTF-8) while the day's key lives; `erased` once it has gone."""
    import base64

    from streams.kafka.topic_ends import UnknownTopic, read_topic
    from streams.protection.deadletter_keys import live_keys, open_letter, readable

    if not args.bootstrap:
        raise CliError("give --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    options = {"bootstrap_servers": args.bootstrap}
    try:
        records = await read_topic(options, args.topic)
    except UnknownTopic as exc:
        raise CliError(str(exc)) from exc
    keys = readable(await live_keys(options, args.keys_topic), datetime.now(UTC))
    for record in records[-max(1, args.limit) :]:
        letter = open_letter(json.loads(record.value), keys)
        for field in ("key", "value"):
            raw = letter.get(f"{field}_base64")
            if raw is not None:
                with contextlib.suppress(UnicodeDecodeError):
                    letter[f"{field}_text"] = base64.b64decode(raw).decode("utf-8")
        print(json.dumps(letter, ensure_ascii=False))
    return 0


def _handover(args: argparse.Namespace, client: httpx.Client) -> int:
    from streams.handover_download import download

    # The service hashes every version before it answers: a long wait for a hold of large videos.
    answer = _call(client, "POST", f"/api/v1/holds/{args.hold_id}/handover", timeout=HANDOVER_WAIT_SECONDS)
    key = _call(client, "GET", "/api/v1/handover/key")["public_key"]
    verdict = download(answer, key, args.out)
    if args.json:
        print(json.dumps({"files": verdict.files, "bytes": verdict.bytes, "verified": verdict.verified,
                          "problems": verdict.problems, "out": str(args.out)}))  # fmt: skip
    else:
        for problem in verdict.problems:
            print(f"PROBLEM: {problem}")
        manifest = answer["manifest"]
        state = "verified" if verdict.verified else "NOT verified"
        print(
            f"{state}: {verdict.files} file(s), {verdict.bytes:,} bytes of hold {args.hold_id} "
            f"(case {manifest.get('case_reference')}) in {args.out}; the manifest's signature "
            f"{'is the service' + chr(39) + 's' if verdict.signature_valid else 'does NOT verify'}"
        )
    return 0 if verdict.verified else 1


def _recheck(args: argparse.Namespace, client: httpx.Client) -> int:
    from streams.handover_download import check

    key = _call(client, "GET", "/api/v1/handover/key")["public_key"]  # the service's, not the folder's
    verdict = check(args.folder, key)
    for problem in verdict.problems:
        print(f"PROBLEM: {problem}")
    print(f"{'verified' if verdict.verified else 'NOT verified'}: {args.folder}")
    return 0 if verdict.verified else 1


def _chain_keys(path: Path | None) -> dict[str, bytes]:
    """The chain keys, from a file or AUDIT_CHAIN_KEYS (JSON {id: secret}); a record sealed with a key
    not given is reported as such."""
    raw = path.read_text() if path is not None else os.environ.get("AUDIT_CHAIN_KEYS", "{}")
    try:
        keys = json.loads(raw)
    except ValueError:
        raise CliError('the chain keys are not JSON ({"key-id": "secret"})') from None
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise CliError("the chain keys must be a JSON object of key ids to secrets")
    return {k: v.encode() for k, v in keys.items()}


async def _verify_audit(args: argparse.Namespace) -> int:
    """Read every partition of the audit topic from its start to its end and check its hash chain
    against the chains' checkpoints (streams/audit/verify.py)."""
    from streams.audit.verify import verify_audit_topic
    from streams.kafka.topic_ends import UnknownTopic

    if not args.bootstrap:
        raise CliError("give --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    keys = _chain_keys(args.chain_keys_file)
    anchored = []
    if args.anchor_bucket:
        from streams.audit.anchor import read_anchor, s3_client_from_environment

        anchored = await asyncio.to_thread(
            read_anchor, s3_client_from_environment(), args.anchor_bucket, args.topic
        )
    try:
        verdict = await verify_audit_topic(
            {"bootstrap_servers": args.bootstrap},
            args.topic,
            args.checkpoints,
            keys=keys,
            anchored=anchored,
            legacy_unkeyed=args.legacy_unkeyed,
        )
    except UnknownTopic as exc:
        raise CliError(str(exc)) from exc
    broken = [p.problem for p in verdict.partitions if p.problem is not None]
    if args.json:
        print(
            json.dumps(
                {
                    "records": verdict.records,
                    "removed_by_retention": verdict.removed_by_retention,
                    "checkpoints": verdict.checkpoints,
                    "anchored_checkpoints": verdict.anchored,
                    "retention_seconds": verdict.retention.total_seconds() if verdict.retention else None,
                    "broken": [vars(b) for b in broken],
                }
            )
        )
        return 0 if verdict.intact else 1
    for problem in broken:
        print(f"BROKEN: {args.topic} partition {problem.partition} offset {problem.offset}: {problem.reason}")
    if verdict.intact:
        kept = f"{verdict.retention.days} days" if verdict.retention else "forever"
        print(
            f"intact: {verdict.records} records in {len(verdict.partitions)} partitions of {args.topic}; "
            f"{verdict.removed_by_retention} older records removed by retention (kept {kept}); "
            f"checked against {verdict.checkpoints} checkpoints ({verdict.anchored} from the anchor bucket"
            f"{'' if args.anchor_bucket else ': none given, a cut of both topics would go unnoticed'})"
        )
    return 0 if verdict.intact else 1


def _new_token(args: argparse.Namespace) -> int:
    if args.role == "police-liaison" and not args.unit:
        raise CliError("a police-liaison token names its unit: --unit UNIT")
    token = new_token()
    entry = {"name": args.name, "role": args.role, "sha256": hash_token(token)}
    if args.unit:
        entry["unit"] = args.unit
    print(f"token (give it to {args.name}; it is not stored anywhere): {token}")
    print(f"API_TOKENS entry: {json.dumps(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
