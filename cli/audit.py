"""CLI: `trackannot audit`, the reviewer audit and mode advice of a store's videos."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trackannot.cli.options import STORE, library_errors

if TYPE_CHECKING:
    from trackannot.session import VideoAudit

__all__ = ["audit"]

_NO_CORRECTIONS = ("no corrections yet: run `trackannot review STORE --out-dir DIR`, answer the "
                   "items, then `trackannot correct STORE answers.jsonl --queue ID` (or apply a "
                   "corrections file with `trackannot correct`)")


def _trend(stats: Any) -> str:
    rates = [f"{100 * b.correction_rate:.0f}%" for b in stats.batches]
    return " ".join(rates[-6:]) if len(rates) <= 6 else "... " + " ".join(rates[-6:])


def _echo_video(key: str, audit: VideoAudit) -> None:
    reviewers, advice = audit.reviewers, audit.advice
    click.echo(f"{key}: {audit.queues} queues, {len(reviewers)} reviewers")
    if reviewers:
        click.echo(f"  {'reviewer':<16} {'items':>6} {'corr.':>6} {'rate':>5}  "
                   f"{'per-batch rate (oldest first)':<32} honeypots caught/fixed")
    for s in reviewers:
        pots = f"{s.caught}/{s.fixed} of {s.honeypots}" if s.honeypots else "-"
        click.echo(f"  {s.author:<16} {s.items:>6} {s.corrections:>6} "
                   f"{100 * s.correction_rate:>4.0f}%  {_trend(s):<32} {pots}")
        for flag in s.flags:
            click.echo(f"    FLAG: {flag}")
        for note in s.notes:
            click.echo(f"    note: {note}")
    for line in advice.lines():
        click.echo(f"  {line}")


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write `doc` whole: to `path.partial`, then renamed over `path`."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(partial, path)


@click.command("audit")
@click.argument("store", type=STORE)
@click.option("--video", "key", help="Video group to audit (default: every video).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the audit and advice as JSON to this file.")
@click.option("--manual-k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Manual annotation baseline: one keyframe every this many frames per track.")
def audit(store: Path, key: str | None, json_path: Path | None, manual_k: int) -> None:
    """Audit the reviewers of STORE and advise a review mode.

    Per reviewer: items answered, correction rate and its per-batch trend, honeypots caught and
    fixed, and flags (a correction rate that fell while the items stayed as risky; missed
    honeypots). Then the advice: acceptance of pre-labels, human time so far, projected time per
    mode against manual keyframing, and the mode that pays (or that AI assistance does not).
    """
    from trackannot.session import VideoSession

    with library_errors():
        sessions = list(VideoSession.all(store))
        if key is not None:
            sessions = [s for s in sessions if s.key == key]
            if not sessions:
                videos = ", ".join(s.key for s in VideoSession.all(store))
                raise click.UsageError(f"{store} has no video {key!r}; videos: {videos}")
        doc: dict[str, Any] = {"store": str(store), "manual_k": manual_k, "videos": {}}
        for session in sessions:
            found = session.audit(manual_k)
            doc["videos"][session.key] = found.as_dict() if found is not None else None
            if found is None:
                click.echo(f"{session.key}: {_NO_CORRECTIONS}")
            else:
                _echo_video(session.key, found)
        if json_path is not None:
            _write_json(json_path, doc)
            click.echo(f"wrote {json_path}")
