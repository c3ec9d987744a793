"""CLI: `trackannot audit`, the reviewer audit and mode advice of a store's videos."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from trackannot.errors import ConfigError, CorruptStoreError, TrackannotError

__all__ = ["audit"]

_NO_CORRECTIONS = ("no corrections yet: run `trackannot review STORE --out-dir DIR`, answer the "
                   "items, then `trackannot correct STORE answers.jsonl --queue ID` (or apply a "
                   "corrections file with `trackannot correct`)")


def _review_config(result: Any) -> Any:
    """The review settings the store was made with (defaults for keys it predates)."""
    from trackannot.config import ReviewConfig

    stored = (result.attrs.get("config") or {}).get("review") or {}
    known = {f.name for f in fields(ReviewConfig)}
    try:
        return ReviewConfig(**{k: v for k, v in stored.items() if k in known})
    except (TypeError, ConfigError) as err:
        raise CorruptStoreError(f"{result.key}: stored review settings {stored} do not load: {err}") from err


def _audit_video(result: Any, manual_k: int) -> dict[str, Any] | None:
    """(reviewers, advice) of one video as plain values; None when nothing was corrected yet."""
    from trackannot.annotate import load_state
    from trackannot.advise import advise
    from trackannot.audit import reviewer_stats
    from trackannot.cost import DEFAULT_COST

    records = result.queue_records()
    queues = [result.read_queue(r["id"]) for r in records]
    answers = {q.queue_id: result.read_answers(q.queue_id) for q in queues}
    log, _ = result.read_log()
    if not len(log) and not any(len(a) for a in answers.values()):
        return None
    cfg = _review_config(result)
    reviewers = reviewer_stats(queues, answers, cfg)
    advice = advise(queues, answers, log, result.num_frames, len(load_state(result).boxes()),
                    DEFAULT_COST, cfg=cfg, manual_k=manual_k)
    return {"queues": len(queues), "reviewers": reviewers, "advice": advice}


def _trend(stats: Any) -> str:
    rates = [f"{100 * b.correction_rate:.0f}%" for b in stats.batches]
    return " ".join(rates[-6:]) if len(rates) <= 6 else "... " + " ".join(rates[-6:])


def _echo_video(key: str, audit: dict[str, Any]) -> None:
    reviewers, advice = audit["reviewers"], audit["advice"]
    click.echo(f"{key}: {audit['queues']} queues, {len(reviewers)} reviewers")
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
@click.argument("store", type=click.Path(exists=True, file_okay=False, path_type=Path))
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
    from trackannot.store import open_store

    try:
        opened = open_store(store)
        if key is not None and key not in opened.videos:
            raise click.UsageError(f"{store} has no video {key!r}; videos: {', '.join(opened.videos)}")
        doc: dict[str, Any] = {"store": str(store), "manual_k": manual_k, "videos": {}}
        for name in [key] if key is not None else opened.videos:
            audit_doc = _audit_video(opened[name], manual_k)
            if audit_doc is None:
                click.echo(f"{name}: {_NO_CORRECTIONS}")
                doc["videos"][name] = None
                continue
            _echo_video(name, audit_doc)
            doc["videos"][name] = {
                "queues": audit_doc["queues"],
                "reviewers": [s.as_dict() for s in audit_doc["reviewers"]],
                "advice": audit_doc["advice"].as_dict(),
            }
        if json_path is not None:
            _write_json(json_path, doc)
            click.echo(f"wrote {json_path}")
    except ConfigError as err:
        raise click.UsageError(str(err)) from err
    except TrackannotError as err:
        raise click.ClickException(str(err)) from err
