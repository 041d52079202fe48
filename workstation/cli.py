"""The ``responder`` command (see ../shared/contracts/README.md for its contract).

Exit codes: 0 ok; 2 invalid input or arguments, with a one-line reason on stderr and no traceback.

Adding a subcommand: write ``_args_<name>(parser)`` (its arguments) and ``_cmd_<name>(args) -> int``
(its work), then add one :class:`Command` row to :data:`COMMANDS`. Raise
:class:`responder.errors.InvalidInput` (or a subclass) for bad input: :func:`main` turns it into exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from responder import __version__
from responder.encode import terminal
from responder.errors import InvalidInput

EXIT_OK = 0
EXIT_INVALID = 2
MAX_INPUT_BYTES = 256 * 1024


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line on stderr (the contract's exit-2 form)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("responder").strip()
        raise InvalidInput(f"{command}: {message}" if command else message)


def _say(text: object, *, file: TextIO | None = None) -> None:
    """print(), but what reaches the terminal carries no escape sequence or control from the input
    (a user name, an error message quoting a log field): those show as ``\\x1b``-style text."""
    print(terminal(str(text)), file=file if file is not None else sys.stdout)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# ------------------------------------------------------------------------------------ triage


def _args_triage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a finding or event as JSON ('-' reads stdin)")
    parser.add_argument(
        "--account-id",
        help="the account a manual input is about, when the input names none",
    )


def _read_input(name: str) -> bytes:
    """At most MAX_INPUT_BYTES of FILE (or stdin); more is refused rather than read into memory."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(name).open("rb") as fh:
                data = fh.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(f"{name}: larger than {MAX_INPUT_BYTES // 1024} KB")
    return data


def _cmd_triage(args: argparse.Namespace) -> int:
    from responder.models import dump
    from responder.settings import Settings
    from responder.steps.triage import triage

    data = _read_input(args.file)
    try:
        incident = triage(data, Settings.from_env(), default_account_id=args.account_id)
    except InvalidInput as exc:
        raise InvalidInput(f"{args.file}: {exc}") from exc
    _say(json.dumps(dump(incident), indent=2))
    return EXIT_OK


# -------------------------------------------------------------------------------------- demo


def _args_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="where report.json, report.md and the logs go")
    parser.add_argument("--scenario", default=None, help="a built-in incident scenario (see --list)")
    parser.add_argument("--list", action="store_true", help="name the scenarios, one line each")
    parser.add_argument(
        "--log-format",
        choices=("cloudtrail", "securitylake"),
        default="cloudtrail",
        help="investigate CloudTrail's own files, or the same events as Security Lake stores them (OCSF)",
    )


def _cmd_demo(args: argparse.Namespace) -> int:
    from workstation.demo.run import DEFAULT_SCENARIO, SCENARIOS, run_demo

    if args.list:
        for name, spec in SCENARIOS.items():
            _say(f"{name:<22} {spec.summary}")
        return EXIT_OK
    scenario = args.scenario or DEFAULT_SCENARIO
    if scenario not in SCENARIOS:
        raise InvalidInput(f"unknown scenario {scenario!r}; `responder demo --list` names them")
    result = run_demo(Path(args.out), scenario=scenario, log_format=args.log_format)
    return EXIT_OK if result.status in ("SUCCEEDED", "IGNORED") else 1


# ------------------------------------------------------------------------------- investigate


def _args_investigate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--logs",
        nargs="+",
        required=True,
        metavar="PATH",
        help='CloudTrail log files or folders (.json, .json.gz; {"Records": [...]} or a bare list), '
        "or Security Lake's OCSF Parquet files (.parquet)",
    )
    parser.add_argument("--access-key", required=True, metavar="KEY", help="the exposed access key id")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        metavar="N",
        help="N days ending after the key's last event (default 7)",
    )
    parser.add_argument(
        "--start", default=None, metavar="ISO", help="window start, ISO 8601 with Z or offset"
    )
    parser.add_argument("--end", default=None, metavar="ISO", help="window end, ISO 8601 with Z or offset")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the report files and queries/ go")
    parser.add_argument(
        "--max-file-mib",
        type=int,
        default=None,
        metavar="MIB",
        help="read no log file larger than this, decompressed (default 256; larger ones are skipped and "
        "counted in the coverage)",
    )
    parser.add_argument(
        "--digest-public-keys",
        default=None,
        metavar="FILE",
        help="CloudTrail's public keys (`aws cloudtrail list-public-keys` output) to verify the digest "
        "signatures of log-file validation; digests' signatures go beside them as <digest>.sig.json",
    )


def _mib(value: int) -> int:
    if value < 1:
        raise InvalidInput(f"--max-file-mib must be at least 1, got {value}")
    return value << 20


def _cmd_investigate(args: argparse.Namespace) -> int:
    from workstation.offline import ProgressLine, investigate, summary_lines

    progress = ProgressLine(sys.stderr)
    try:
        report = investigate(
            args.logs,
            args.access_key,
            start=args.start,
            end=args.end,
            days=args.days,
            progress=progress,
            out_dir=args.out,
            digest_public_keys=args.digest_public_keys,
            **({"max_file_bytes": _mib(args.max_file_mib)} if args.max_file_mib is not None else {}),
        )
    finally:
        progress.clear()
    for line in summary_lines(report):
        _say(line)
    _say(f"report: {Path(args.out) / 'report.md'}")
    return EXIT_OK


# --------------------------------------------------------------------------- approve / deny


def _args_approve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", required=True, metavar="TOKEN", help="the task token from the SOC message")
    parser.add_argument("--reason", default=None, metavar="TEXT", help="why (kept in the execution history)")


def _answer_approval(args: argparse.Namespace, *, approved: bool) -> int:
    from botocore.exceptions import BotoCoreError

    from responder.approval import approve, caller, check_token, deny
    from responder.clients import client
    from responder.errors import ResponderError

    token = check_token(args.token)
    try:
        by = caller(client("sts"))
        send = approve if approved else deny
        answer = send(client("stepfunctions"), token, by=by, reason=args.reason)
    except (ResponderError, BotoCoreError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        _say(f"responder: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    _say(json.dumps(answer))
    return EXIT_OK


def _cmd_approve(args: argparse.Namespace) -> int:
    return _answer_approval(args, approved=True)


def _args_deny(parser: argparse.ArgumentParser) -> None:
    _args_approve(parser)


def _cmd_deny(args: argparse.Namespace) -> int:
    return _answer_approval(args, approved=False)


# ----------------------------------------------------------------------------------- recover


def _args_recover(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--incident", required=True, metavar="ID", help="the incident whose changes to undo")
    parser.add_argument(
        "--table", default=None, metavar="NAME", help="the incident table (default $INCIDENT_TABLE)"
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be undone; change nothing")
    parser.add_argument("--yes", action="store_true", help="undo without asking")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="undo this change only: its ID from the listing, or its ACTION# sort key (repeatable)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="TARGET",
        help="undo only the changes on this access key id, user/NAME, role/NAME, IAM ARN or bucket "
        "(repeatable; with --only, the changes either names)",
    )
    parser.add_argument(
        "--except",
        dest="exclude",
        action="append",
        default=[],
        metavar="ID",
        help="leave this change as is: its ID or sort key (repeatable)",
    )


def _cmd_recover(args: argparse.Namespace) -> int:
    import os

    from botocore.exceptions import BotoCoreError, ClientError

    from responder.clients import client
    from responder.errors import ResponderError
    from responder.operators import refusal
    from workstation.recover import Selection, recover_changes, recover_lines

    table = args.table or os.environ.get("INCIDENT_TABLE", "")
    if not table:
        raise InvalidInput("recover: name the incident table with --table or INCIDENT_TABLE")
    selection = Selection(only=tuple(args.only), targets=tuple(args.target), exclude=tuple(args.exclude))
    iam, ddb, s3 = client("iam"), client("dynamodb"), client("s3")
    try:
        # The same selection for the listing and the run: what is shown is what is asked about.
        plan = recover_changes(iam, ddb, table, args.incident, dry_run=True, s3=s3, selection=selection)
        for line in recover_lines(plan):
            _say(line)
        pending = sum(i.status == "would_do" for i in plan)
        left = sum(i.status == "not_selected" for i in plan)
        unselected = f", {left} not selected" if left else ""
        if not pending:
            _say(f"nothing to undo{unselected}")
            return EXIT_OK
        if args.dry_run:
            _say(f"dry run: {pending} change(s) would be undone{unselected}; nothing changed")
            return EXIT_OK
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidInput(f"recover: refusing to undo {pending} change(s) without a TTY; pass --yes")
            try:
                answer = input(f"Undo {pending} changes? [y/N] ")  # our own text only
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                _say("nothing undone", file=sys.stderr)
                return 1
        done = recover_changes(iam, ddb, table, args.incident, s3=s3, selection=selection)
    except ClientError as exc:
        refused = refusal("recover", exc)
        if refused is None:
            raise
        _say(f"responder: {refused}", file=sys.stderr)
        return 1
    except (ResponderError, BotoCoreError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        _say(f"responder: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    for line in recover_lines(done):
        _say(line)
    left = sum(i.status == "not_selected" for i in done)
    if left:
        _say(f"{left} change(s) not selected, left as is; recover again to undo them")
    return EXIT_OK


# ------------------------------------------------------------------------------------- start


def _args_start(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--access-key", required=True, metavar="KEY", help="the exposed access key id")
    parser.add_argument(
        "--lookback-days",
        type=int,
        default=None,
        metavar="N",
        help="CloudTrail window in days, 1-3650 (default: the stack's responder:lookbackDays)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="investigate and report only; without it the key is disabled"
    )
    parser.add_argument(
        "--stack", default=None, metavar="NAME", help="the responder stack (default IncidentResponder)"
    )
    parser.add_argument(
        "--state-machine", default=None, metavar="ARN", help="start this state machine; skip the stack lookup"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="print the execution ARN and console URL, then exit"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=2.0,
        metavar="S",
        help="how often to read the history (default 2)",
    )


def _cmd_start(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError

    from responder.clients import client
    from responder.errors import ResponderError
    from workstation.start import (
        DEFAULT_STACK,
        ProgressDisplay,
        console_url,
        follow,
        manual_input,
        start_run,
        state_machine_arn,
    )

    execution_input = manual_input(args.access_key, args.lookback_days, dry_run=args.dry_run)
    if args.poll_seconds <= 0:
        raise InvalidInput("start: --poll-seconds must be positive")
    progress = ProgressDisplay(sys.stderr)
    arn = ""
    try:
        machine = args.state_machine or state_machine_arn(
            client("cloudformation"), args.stack or DEFAULT_STACK
        )
        sfn = client("stepfunctions")
        arn = start_run(sfn, machine, execution_input)
        _say(f"started: {arn}")
        _say(f"console: {console_url(arn)}")
        if not args.dry_run:
            _say(
                f"note: not a dry run: the workflow disables {args.access_key} before it investigates",
                file=sys.stderr,
            )
        if args.no_wait:
            return EXIT_OK
        result = follow(sfn, arn, progress, poll_seconds=args.poll_seconds)
    except KeyboardInterrupt:
        progress.clear()
        _say(
            f"responder: stopped following; the execution goes on: {arn or '(not started)'}", file=sys.stderr
        )
        return 130
    except (ResponderError, BotoCoreError) as exc:
        progress.clear()
        if isinstance(exc, InvalidInput):
            raise
        _say(f"responder: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    progress.clear()
    reason = f": {result.error}: {_one_line(result.cause or '', 200)}" if result.error else ""
    _say(f"{result.status}{reason}")
    return EXIT_OK if result.status == "SUCCEEDED" else 1


# ----------------------------------------------------------------------------- audit-buckets


def _args_audit_buckets(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org-id", default=None, metavar="o-...", help="the organization (default: DescribeOrganization)"
    )
    parser.add_argument(
        "--trusted-account",
        action="append",
        default=[],
        metavar="ID",
        help="an account outside the organization that may be granted access (repeatable)",
    )
    parser.add_argument("--out", default="out/audit-buckets", metavar="DIR", help="where the report goes")
    parser.add_argument(
        "--fail-on",
        choices=("high", "medium", "low"),
        default=None,
        help="exit 1 when a finding of this severity or worse exists (for CI)",
    )


def _cmd_audit_buckets(args: argparse.Namespace) -> int:
    import re

    from botocore.exceptions import BotoCoreError, ClientError

    from responder.clients import client
    from workstation.audit import at_or_above, audit_account, render_markdown

    if args.org_id and not re.fullmatch(r"o-[a-z0-9]{10,32}", args.org_id):
        raise InvalidInput(f"audit-buckets: --org-id must look like o-abcd123456, not {args.org_id!r}")
    for account in args.trusted_account:
        if not re.fullmatch(r"\d{12}", account):
            raise InvalidInput(
                f"audit-buckets: --trusted-account must be a 12-digit account id, not {account!r}"
            )
    try:
        report = audit_account(
            client("s3"),
            client("s3control"),
            client("sts"),
            client("organizations"),
            org_id=args.org_id,
            trusted_accounts=args.trusted_account,
            ec2=client("ec2"),
            iam=client("iam"),
        )
    except (ClientError, BotoCoreError) as exc:
        _say(f"responder: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    out = Path(args.out)
    (out / "suggested-policies").mkdir(parents=True, exist_ok=True)
    (out / "bucket-audit.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "bucket-audit.md").write_text(render_markdown(report))
    for bucket in report["buckets"]:
        if bucket["suggested_policy"]:
            path = out / "suggested-policies" / f"{bucket['bucket']}.json"
            path.write_text(json.dumps(bucket["suggested_policy"], indent=2) + "\n")
    counts = report["counts"]
    _say(
        f"{len(report['buckets'])} buckets reviewed: "
        f"{counts['high']} high, {counts['medium']} medium, {counts['low']} low"
    )
    _say(f"report: {out / 'bucket-audit.md'}")
    if args.fail_on and at_or_above(report, args.fail_on):
        return 1
    return EXIT_OK


# ------------------------------------------------------------------------- the command table


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# Register subcommands here, one row each (demo, investigate, recover, approve, ... go below triage).
COMMANDS: tuple[Command, ...] = (
    Command("triage", "read one finding or event, print the incident JSON", _args_triage, _cmd_triage),
    Command("demo", "run the real workflow on emulated AWS over a realistic incident", _args_demo, _cmd_demo),
    Command(
        "investigate",
        "investigate an exposed key in local CloudTrail logs, write the report",
        _args_investigate,
        _cmd_investigate,
    ),
    Command(
        "approve",
        "approve a workflow's pending approval request (its task token)",
        _args_approve,
        _cmd_approve,
    ),
    Command("deny", "deny a workflow's pending approval request (its task token)", _args_deny, _cmd_deny),
    Command("recover", "undo an incident's containment, newest change first", _args_recover, _cmd_recover),
    Command("start", "start the deployed workflow for a key and follow it", _args_start, _cmd_start),
    Command(
        "audit-buckets",
        "review every bucket policy, ACL and Block Public Access; write a report",
        _args_audit_buckets,
        _cmd_audit_buckets,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="responder", description="Incident responder for exposed AWS credentials.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        sub_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub_parser)
        sub_parser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        code: int = args.run(args)
    except InvalidInput as exc:
        _say(f"responder: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_INVALID
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    return code


if __name__ == "__main__":
    raise SystemExit(main())
