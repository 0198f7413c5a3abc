"""`newswatch alerts list|retry`: the alert outbox, and sending what is pending in it."""

from __future__ import annotations

import argparse
import sys

from flows.cli.shared import SMTP_CONFIG_HELP, add_archive_option, add_config_option, open_archive, smtp_settings

HELP = "show the alert outbox, or send the alerts still pending in it"
EXAMPLE = """
newswatch alerts list --pending
newswatch alerts retry --config newswatch.yaml
"""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="matches in the outbox, newest first, sent or pending")
    listing.add_argument("--pending", action="store_true", help="only those not sent yet")
    listing.add_argument("--limit", type=int, default=50, metavar="N", help="at most N (default: 50)")
    add_archive_option(listing)
    retry = sub.add_parser("retry", help="send the pending immediate alerts now")
    retry.add_argument(
        "--include-digest", action="store_true", help="also send the pending digest matches now (as the digest would)"
    )
    add_config_option(retry, help=SMTP_CONFIG_HELP)
    add_archive_option(retry)


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args)
    from alerts.deliver import deliver_digest, deliver_immediate
    from alerts.email import OncePerRun, send_email

    smtp = smtp_settings(args)
    send = OncePerRun(send_email)  # a server that timed out is not tried again by the digest part
    with open_archive(args) as archive:
        reports = [deliver_immediate(archive, smtp, send=send)]
        if args.include_digest:
            reports.append(deliver_digest(archive, smtp, send=send))
    for report in reports:
        print(report.summary())
    return 0 if all(r.ok for r in reports) else 1


def _list(args: argparse.Namespace) -> int:
    from storage.outbox import list_outbox

    with open_archive(args, read_only=True) as archive:
        entries = list_outbox(archive, pending_only=args.pending, limit=args.limit)
    for e in entries:
        state = f"sent {e.sent_at}" if e.sent_at else f"PENDING ({e.attempts} attempt(s))"
        print(f"{e.matched_at}  {e.mode:<9}  {e.rule}  -> {e.recipient}  {state}")
        print(f"    #{e.article_id} {e.source or '?'}  {e.title or '(no title)'}")
        if e.also_in is not None:
            told = "listed" if e.sent_at else "to be listed"
            print(f"    a later version of {e.story_title or '(no title)'}: {told} as also in by the rule's next email")
        if e.last_error and not e.sent_at:
            print(f"    last error: {e.last_error}")
    print(f"{len(entries)} match(es){' pending' if args.pending else ''}", file=sys.stderr)
    return 0
