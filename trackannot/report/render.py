"""HTML pages of the dashboard: the index, a video's page (reviewer's and lead's view) and the
workflow comparison page. Pure rendering: everything shown comes in as gathered data.

The lead's view (``videos/<key>.lead.html``) adds what reviewers must not see: the honeypots
on the timeline and the reviewer audit (its honeypot counts and flags). The reviewer's page
(``videos/<key>.html``) carries no honeypot data at all, so it cannot leak through the page source.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from trackannot.boxes import Origin

if TYPE_CHECKING:
    from trackannot.report.compare import EffortResults
    from trackannot.report.gather import IndexRow, VideoData
    from trackannot.report.previews import Previews

__all__ = ["render_compare", "render_index", "render_video"]

_E = html.escape
_DRAW = """
<script>
document.addEventListener('DOMContentLoaded', function () {
  // plotly.min.js is deferred (the page paints before its 4.7 MB are parsed): draw after it ran
  for (const div of document.querySelectorAll('div.plot')) {
    const fig = JSON.parse(document.getElementById(div.id + '-data').textContent);
    Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false,
                   scrollZoom: false}).then(function () { div.dataset.drawn = '1'; });
  }
});
</script>
"""


def _page(title: str, body: str, up: str, nav: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_E(title)}</title><link rel=\"icon\" href=\"data:,\">"
            f"<link rel=\"stylesheet\" href=\"{up}assets/style.css\">"
            f"<script defer src=\"{up}assets/plotly.min.js\"></script></head>\n<body>"
            f"<header><h1>{_E(title)}</h1><nav>{nav}</nav>"
            f"<span class=\"muted\">trackannot report, written {when}</span></header>\n"
            f"<main>{body}</main>{_DRAW}</body></html>\n")


def _plot(fig_id: str, fig: dict[str, Any]) -> str:
    text = json.dumps(fig, separators=(",", ":"), allow_nan=False, default=_json_default)
    text = text.replace("</", "<\\/")
    return (f"<div class=\"plot\" id=\"{fig_id}\" data-drawn=\"0\"></div>"
            f"<script type=\"application/json\" id=\"{fig_id}-data\">{text}</script>")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _section(name: str, title: str, inner: str) -> str:
    return f"<section id=\"{name}\" data-section=\"{name}\"><h2>{_E(title)}</h2>{inner}</section>"


def _note(text: str) -> str:
    return f"<p class=\"note\">{_E(text)}</p>"


def _table(head: list[str], rows: list[list[Any]], num: set[int] | None = None) -> str:
    num = num or set()
    th = "".join(f"<th>{_E(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(
        f"<td class=\"num\">{_E(str(c))}</td>" if i in num else f"<td>{c}</td>"
        for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _hours(s: float | None) -> str:
    return "n/a" if s is None else f"{s / 3600:.2f} h"


def _duration(video: VideoData) -> float | None:
    d = (video.attrs.get("video") or {}).get("duration_s")
    if d:
        return float(d)
    return float(video.time_s[-1]) if len(video.time_s) else None


# ------------------------------------------------------------------------------ video page

def _summary(video: VideoData) -> str:
    a = video.attrs
    info = a.get("video") or {}
    decode = (a.get("config") or {}).get("decode") or {}
    committed = (a.get("committed") or {}).get("frames", len(video.index))
    rate = decode.get("fps")
    seconds = a.get("seconds")
    frames_run = a.get("frames_decoded_last")
    dur = _duration(video)
    cards = [("status", video.status), ("frames processed", f"{len(video.index):,}"),
             ("duration", "n/a" if dur is None else f"{dur / 60:.1f} min"),
             ("sampling", "every frame" if not rate else f"{rate} frames/s"),
             ("tracks", f"{len(video.track_ids):,}"), ("boxes", f"{len(video.boxes):,}")]
    out = "<div class=\"cards\">" + "".join(
        f"<div class=\"card\"><span class=\"muted\">{_E(k)}</span><b>{_E(str(v))}</b></div>"
        for k, v in cards) + "</div>"
    if video.error:
        out += f"<p class=\"bad\">error: {_E(str(video.error))}</p>"
    origins = np.bincount(video.boxes.origin, minlength=int(max(Origin)) + 1)
    from trackannot.report.figures import ORIGIN_COLOURS, ORIGIN_NAMES

    rows = [[(f"<span style=\"color:{ORIGIN_COLOURS[int(o)]}\">&#9632;</span> "
              f"{_E(ORIGIN_NAMES[int(o)])}"), f"{int(origins[int(o)]):,}"] for o in Origin]
    rows.append(["detections (detector output, stored)", f"{len(video.detections):,}"])
    out += "<h3>Boxes by origin</h3>" + _table(["origin", "boxes"], rows, {1})
    stage = []
    per = a.get("stage_seconds") or {}
    names = {"decode_wait": "decode (time the detector waited for decoded frames)",
             "detect": "detect", "track_write": "track + write"}
    for key, label in names.items():
        if key in per:
            busy = float(per[key])
            rate = f"{frames_run / busy:.1f}" if frames_run and busy > 0 else "n/a"
            stage.append([label, f"{busy:.1f} s", f"{frames_run or 'n/a'}", rate])
    if seconds:
        fps = f"{frames_run / seconds:.1f}" if frames_run else "n/a"
        stage.append(["whole run (decode + detect + track + write)", f"{seconds:.1f} s",
                      f"{frames_run or 'n/a'}", fps])
    out += "<h3>Throughput as recorded at run time</h3>"
    if stage:
        out += _table(["stage", "seconds", "frames", "frames/s"], stage, {1, 2, 3})
    if per:
        out += ("<p class=\"muted\">Stages run at once in their own threads: each row is the "
                "stage's busy time in the last run; the slowest stage bounds the whole run.</p>")
    else:
        out += ("<p class=\"muted\">This run recorded its whole duration only (the group's "
                "<code>seconds</code> attribute; stores written before per-stage times were "
                "recorded), so no per-stage times are shown.</p>")
    det = a.get("detector") or {}
    out += "<h3>Input, detector and config</h3>" + _table(["", ""], [
        ["input", _E(str((a.get("input") or {}).get("path", "n/a")))],
        ["video", _E(", ".join(f"{k} {v}" for k, v in info.items()))],
        ["detector", _E(", ".join(f"{k}: {v}" for k, v in det.items()) or "n/a")],
        ["frames committed", f"{committed:,}"],
    ])
    out += ("<details><summary>config</summary><pre>" +
            _E(json.dumps(a.get("config") or {}, indent=1)) + "</pre></details>")
    return _section("summary", "Run summary", out)


def _timeline(video: VideoData, lead: bool) -> str:
    from trackannot.report.figures import timeline_figure
    from trackannot.report.timeline import build_timeline

    if not len(video.boxes):
        return _section("timeline", "Track timeline", _note("No tracked boxes to draw."))
    t = build_timeline(video, lead=lead)
    fig = timeline_figure(t)
    text = (f"<p class=\"muted\">{len(t.track_ids)} tracks, one row each, coloured by origin; "
            "the strip below is the risk (expected wrong boxes per frame). Drag to zoom, "
            "double-click to reset." + (" Honeypots are shown (lead's view)." if lead else "") +
            "</p>")
    return _section("timeline", "Track timeline", text + _plot("fig-timeline", fig))


def _previews(previews: Previews, up: str) -> str:
    if not previews.items:
        return _section("previews", "Previews", _note(previews.note or "No previews."))
    cards = []
    for p in previews.items:
        boxes = "".join(f"<li>{_E(b)}</li>" for b in p.boxes[:12])
        more = f"<li>... {len(p.boxes) - 12} more</li>" if len(p.boxes) > 12 else ""
        cards.append(f"<figure data-frame=\"{p.frame}\"><img src=\"{up}{_E(p.file)}\""
                     f" alt=\"frame {p.frame}\"><figcaption><b>frame {p.frame}</b> - "
                     f"{_E(p.why)}<ul>{boxes}{more}</ul></figcaption></figure>")
    note = _note(previews.note) if previews.note else ""
    return _section("previews", "Previews: queued and riskiest frames",
                    note + f"<div class=\"grid\">{''.join(cards)}</div>")


def _review(video: VideoData) -> str:
    from trackannot.report.figures import answers_figure

    if not video.queues:
        return _section("review", "Review", _note(
            "No review queue yet: run `trackannot review STORE` to build one."))
    rows = []
    for q, record in zip(video.queues, video.queues):
        answers = video.answers.get(q.queue_id)
        n = 0 if answers is None else len(answers)
        rows.append([_E(q.queue_id), q.mode, q.order, f"{len(np.unique(q.frame))}", f"{len(q)}", f"{n}"])
    out = _table(["queue", "mode", "order", "frames", "items", "answered"], rows, {3, 4, 5})
    fig = answers_figure(video)
    if fig is None:
        out += _note("No answers yet: the queues above are waiting for reviewers.")
    else:
        out += _plot("fig-answers", fig)
    if video.audit is not None:
        adv = video.audit.advice
        changed = adv.answered - adv.accepted
        # one figure with `trackannot demo`'s human cost and `trackannot audit`'s time so far
        spent = (f"<b data-seconds=\"{adv.seconds_spent:.1f}\">{adv.seconds_spent / 60:.1f} min"
                 f"</b><span class=\"muted\">{adv.seconds_spent:,.0f} s under the cost model"
                 "</span>")
        out += (f"<div class=\"cards\"><div class=\"card\"><span class=\"muted\">acceptance</span>"
                f"<b>{_pct(adv.acceptance)}</b></div><div class=\"card\"><span class=\"muted\">"
                f"correction rate</span><b>{_pct(changed / adv.answered if adv.answered else None)}"
                f"</b></div><div class=\"card\"><span class=\"muted\">answered</span>"
                f"<b>{adv.answered}</b></div><div class=\"card\"><span class=\"muted\">human time "
                f"so far</span>{spent}</div></div>")
    log = video.log
    if log is None or not len(log):
        out += _note("No corrections yet.")
    else:
        out += f"<p>{len(log):,} corrections in {len(video.batches)} batches.</p>"
    return _section("review", "Review", out)


def _audit(video: VideoData) -> str:
    if video.audit is None:
        return _section("audit", "Reviewer audit", _note(
            "No corrections or answers yet: nothing to audit."))
    rows = []
    for s in video.audit.reviewers:
        pots = f"{s.caught}/{s.honeypots} caught, {s.fixed} fixed" if s.honeypots else "-"
        flags = "".join(f"<div class=\"bad\">FLAG: {_E(f)}</div>" for f in s.flags) or \
            "<span class=\"good\">none</span>"
        trend = " ".join(f"{100 * b.correction_rate:.0f}%" for b in s.batches[-8:])
        rows.append([_E(s.author), s.items, s.corrections, _pct(s.correction_rate), _E(trend),
                     pots, flags])
    return _section("audit", "Reviewer audit", _table(
        ["reviewer", "items", "corrections", "rate", "per-batch rate", "honeypots", "flags"],
        rows, {1, 2, 3}))


def _advice(video: VideoData) -> str:
    from trackannot.report.figures import advice_figure

    if video.audit is None:
        return _section("advice", "Mode advice", _note(
            "No answers or corrections yet: the advice needs some reviewed items."))
    adv = video.audit.advice
    reasons = "".join(f"<li>{_E(r)}</li>" for r in adv.reasons)
    table = _table(["mode", "projected human hours"],
                   [[_E(m), _hours(s)] for m, s in adv.projected_s.items()], {1})
    return _section("advice", "Mode advice", (
        f"<p>Recommended: <b>{_E(adv.mode)}</b></p><ul>{reasons}</ul>"
        f"<p class=\"muted\">Projected for the whole video ({adv.num_frames:,} frames, "
        f"{adv.boxes_in_video:,} boxes; manual: a keyframe every {adv.manual_k} frames).</p>"
        + table + _plot("fig-advice", advice_figure(adv.projected_s))))


def _scores(video: VideoData) -> str:
    if not video.scores:
        return ""
    names = list(video.scores)
    rows = [[m] + [f"{100 * getattr(video.scores[n], m.lower()):.1f}" for n in names]
            for m in ("HOTA", "MOTA", "IDF1")]
    return _section("scores", "Scores against ground truth", _note(video.score_note) + _table(
        ["metric"] + names, rows, set(range(1, len(names) + 1))))


def render_video(video: VideoData, previews: Previews, *, lead: bool = False) -> str:
    """A video's page (in videos/): the reviewer's view, or the lead's (`lead`)."""
    up = "../"
    other = (f"<a href=\"{_E(video.key)}.html\">reviewer's view</a>" if lead else
             f"<a href=\"{_E(video.key)}.lead.html\">lead's view</a>")
    nav = f"<a href=\"../index.html\">all videos</a>{other}<a href=\"../compare.html\">workflows</a>"
    notes = "".join(_note(n) for n in video.notes)
    body = notes + _summary(video) + _timeline(video, lead) + _previews(previews, up) + \
        _review(video) + (_audit(video) if lead else "") + _advice(video) + _scores(video)
    title = f"{video.key}" + (" (lead)" if lead else "")
    return _page(title, body, up, nav)


# ------------------------------------------------------------------------------ index

def render_index(store: str, videos: list[IndexRow]) -> str:
    """The index over every video: a table, totals, and the advice summed over all videos."""
    from trackannot.report.figures import advice_figure

    rows = []
    total_frames = 0
    total_s = 0.0
    totals: dict[str, float] = {}
    missing: set[str] = set()
    for v in videos:
        adv = v.advice
        status = v.status if v.status == "complete" else f"<span class=\"bad\">{_E(v.status)}</span>"
        rows.append([(f"<a href=\"videos/{_E(v.key)}.html\">{_E(v.key)}</a> "
                      f"(<a href=\"videos/{_E(v.key)}.lead.html\">lead</a>)"), status,
                     f"{v.frames:,}", f"{(v.duration_s or 0) / 60:.1f}", f"{v.tracks:,}",
                     f"{v.boxes:,}", f"{v.queued:,}", f"{v.answered:,}", f"{v.corrections:,}",
                     _pct(adv.acceptance) if adv else "n/a", _E(adv.mode) if adv else "n/a"])
        total_frames += v.frames
        total_s += v.duration_s or 0.0
        if adv is not None:
            for m, s in adv.projected_s.items():
                if s is None:
                    missing.add(m)
                else:
                    totals[m] = totals.get(m, 0.0) + s
    table = _table(["video", "status", "frames", "minutes", "tracks", "boxes", "queued items",
                    "answered", "corrections", "acceptance", "advice"], rows,
                   set(range(2, 10)))
    body = _section("videos", f"{len(videos)} videos: {total_frames:,} frames, "
                              f"{total_s / 3600:.2f} hours", table if videos else
                    _note("The store holds no videos."))
    if totals:
        proj = {m: totals.get(m) if m not in missing else None for m in totals}
        body += _section("advice", "Projected human hours, all videos", (
            "<p class=\"muted\">Sum of each video's projection (videos without reviewed items "
            "are left out).</p>" + _plot("fig-advice", advice_figure(proj))))
    else:
        body += _section("advice", "Projected human hours, all videos",
                         _note("No video has reviewed items yet: no projection."))
    nav = "<a href=\"compare.html\">workflow comparison</a>"
    return _page(f"trackannot: {store}", body, "", nav)


# ------------------------------------------------------------------------------ compare

def render_compare(effort: EffortResults) -> str:
    """The workflow comparison page (see `trackannot.report.compare`)."""
    from trackannot.report.compare import PUBLISHED_S_PER_FRAME, TARGETS
    from trackannot.report.figures import compare_figure

    nav = "<a href=\"index.html\">all videos</a>"
    if not effort.datasets:
        return _page("Workflow comparison", _section("compare", "Workflow comparison",
                                                     _note(effort.missing)), "", nav)
    body = ""
    for i, (name, ds) in enumerate(effort.datasets.items()):
        rows = []
        for strategy, cross in ds["crossings"].items():
            cells = [cross.get(t) for t in TARGETS]
            rows.append([_E(strategy)] + ["not reached" if c is None else f"{c:.3f}" for c in cells]
                        + ["n/a" if cells[0] is None else f"{cells[0] / PUBLISHED_S_PER_FRAME:.0f}x"])
        table = _table(["strategy", "s/frame at 93%", "s/frame at 95%", "vs published 0.08"],
                       rows, {1, 2, 3})
        body += _section(f"compare-{i}", f"{name} ({ds.get('frames') or '?'} frames; "
                                         f"{_E(ds['file'])})",
                         _plot(f"fig-compare-{i}", compare_figure(name, ds, PUBLISHED_S_PER_FRAME))
                         + table)
    cost = ", ".join(f"{k} {v}" for k, v in effort.cost_model.items())
    intro = ("<p class=\"muted\">Each strategy's curve: the simulated annotator's human seconds "
             "per frame (cost model: " + _E(cost) + ") against box accuracy, HOTA and IDF1, "
             "one point per effort level (hover: the level and the actions taken). Circles: "
             "where a curve crosses 93% and 95% box accuracy. Red dashes: the published "
             "0.08 s/frame at 93%.</p>")
    return _page("Workflow comparison", intro + body, "", nav)
