"""The dashboard's Plotly figures, as plain JSON-ready dicts ({"data": [...], "layout": {...}}).

Built as dicts (not `plotly.graph_objects`) so a 2-hour timeline of tens of thousands of runs is
serialised in one pass; Plotly's JavaScript draws them. Arrays are rounded lists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from trackannot.boxes import Origin

if TYPE_CHECKING:
    from trackannot.report.gather import VideoData
    from trackannot.report.timeline import Timeline

__all__ = ["ORIGIN_COLOURS", "advice_figure", "answers_figure", "compare_figure",
           "timeline_figure"]

ORIGIN_COLOURS = {int(Origin.DETECTED): "#4cafff", int(Origin.PREDICTED): "#ffb74d",
                  int(Origin.INTERPOLATED): "#ba68c8", int(Origin.KEYFRAME): "#66ff99",
                  int(Origin.PROPAGATED): "#00e5cc"}
ORIGIN_NAMES = {int(o): ("human" if o == Origin.KEYFRAME else o.name.lower()) for o in Origin}
_MARKS = {"queued": ("triangle-down", "#ffffff", 9), "honeypots": ("x", "#ff6b6b", 10),
          "identity edits": ("star", "#ffd54f", 12), "open ends": ("diamond-open", "#ff8a65", 9)}
_FONT = {"color": "#e3e7ec"}
_BASE = {"paper_bgcolor": "#1b2027", "plot_bgcolor": "#111418", "font": _FONT,
         "margin": {"l": 70, "r": 20, "t": 30, "b": 40},
         "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0}}
_GRID = {"gridcolor": "#2c333d", "zerolinecolor": "#2c333d"}


def _layout(**extra: Any) -> dict[str, Any]:
    return {**_BASE, "template": "plotly_dark", **extra}


def timeline_figure(t: Timeline) -> dict[str, Any]:
    """One row per track coloured by origin, marks on it, the risk strip below; zoom on x."""
    rows = len(t.track_ids)
    height = int(min(2400, max(260, 16 * rows + 150)))
    width_px = max(2.0, min(12.0, 0.75 * (height - 150) / max(rows, 1)))
    data: list[dict[str, Any]] = []
    for origin, (row, start, stop) in sorted(t.runs.items()):
        n = len(row)
        x = np.empty(3 * n, object)
        x[0::3], x[1::3], x[2::3] = start.tolist(), stop.tolist(), None  # a 1-frame run shows
        y = np.empty(3 * n, object)
        y[0::3], y[1::3], y[2::3] = row.tolist(), row.tolist(), None
        ids = t.track_ids[row].tolist()
        custom = np.empty(3 * n, object)
        custom[0::3] = custom[1::3] = ids
        custom[2::3] = None
        data.append({"type": "scatter", "mode": "lines", "name": ORIGIN_NAMES[origin],
                     "x": x.tolist(), "y": y.tolist(), "customdata": custom.tolist(),
                     "line": {"color": ORIGIN_COLOURS[origin], "width": width_px},
                     "hovertemplate": f"track %{{customdata}}<br>frame %{{x}}<br>"
                                      f"{ORIGIN_NAMES[origin]}<extra></extra>",
                     "xaxis": "x", "yaxis": "y", "legendgroup": "origin"})
    for mark in t.marks:
        kind = mark.name.split(" (")[0]
        symbol, colour, size = _MARKS.get(kind, ("circle", "#ffffff", 8))
        data.append({"type": "scatter", "mode": "markers", "name": mark.name,
                     "x": mark.frame.tolist(), "y": mark.row.tolist(), "text": mark.text,
                     "marker": {"symbol": symbol, "color": colour, "size": size,
                                "line": {"width": 1, "color": colour}},
                     "hovertemplate": "frame %{x}<br>%{text}<extra></extra>",
                     "xaxis": "x", "yaxis": "y"})
    data.append({"type": "heatmap", "name": "risk", "x": t.risk_x.tolist(), "y": [0],
                 "z": [np.round(t.risk_y, 3).tolist()], "colorscale": "Inferno", "zmin": 0,
                 "showscale": False, "xaxis": "x", "yaxis": "y2",
                 "hovertemplate": "frame %{x}: %{z:.2f} expected wrong boxes<extra>risk</extra>"})
    step = max(1, rows // 40)
    layout = _layout(
        height=height, hovermode="closest", dragmode="zoom", showlegend=True,
        xaxis={**_GRID, "title": {"text": "frame" + (f" (columns of {t.bin_frames} frames; "
                                                       "marks at their own frame)"
                                                       if t.bin_frames > 1 else "")},
               "range": [0, t.num_frames], "anchor": "y2"},
        yaxis={**_GRID, "domain": [0.12, 1.0], "autorange": "reversed",
               "tickvals": list(range(0, rows, step)),
               "ticktext": [f"#{i}" for i in t.track_ids[::step].tolist()], "title": {"text": "track"}},
        yaxis2={"domain": [0.0, 0.08], "showticklabels": False, "title": {"text": "risk"}})
    meta = {"rows": rows, "bin_frames": t.bin_frames,
            "marks": {m.name: len(m.frame) for m in t.marks}}
    return {"data": data, "layout": layout, "meta": meta}


def answers_figure(video: VideoData) -> dict[str, Any] | None:
    """Items answered over time, one cumulative line per reviewer (None: no answers)."""
    if not any(len(a) for a in video.answers.values()):
        return None
    times = np.concatenate([a.time_ns for a in video.answers.values()])
    authors = np.concatenate([a.author for a in video.answers.values()])
    data = []
    for author in sorted(set(authors.tolist())):
        t = np.sort(times[authors == author])
        data.append({"type": "scatter", "mode": "lines+markers", "name": author,
                     "line": {"shape": "hv"},
                     "x": [datetime.fromtimestamp(v / 1e9, UTC).isoformat() for v in t],
                     "y": list(range(1, len(t) + 1)),
                     "hovertemplate": "%{x}<br>%{y} items answered<extra>" + author + "</extra>"})
    return {"data": data, "layout": _layout(height=280, xaxis={**_GRID, "title": {"text": "time (UTC)"}},
                                            yaxis={**_GRID, "title": {"text": "items answered"}})}


def advice_figure(projected: dict[str, float | None]) -> dict[str, Any]:
    """Projected human hours for the whole footage under each mode, side by side."""
    modes = list(projected)
    hours = [None if projected[m] is None else round(projected[m] / 3600, 3) for m in modes]
    return {"data": [{"type": "bar", "x": modes, "y": hours, "marker": {"color": "#4cafff"},
                      "text": ["n/a" if h is None else f"{h:.2f} h" for h in hours],
                      "textposition": "outside",
                      "hovertemplate": "%{x}: %{y:.2f} human hours<extra></extra>"}],
            "layout": _layout(height=300, yaxis={**_GRID, "title": {"text": "projected human hours"}},
                              xaxis=_GRID, showlegend=False)}


def compare_figure(name: str, ds: dict[str, Any], published: float) -> dict[str, Any]:
    """Box accuracy, HOTA and IDF1 against human s/frame for every strategy of one dataset;
    93% / 95% lines, each curve's crossings, and the published 0.08 s/frame reference."""
    from trackannot.report.compare import TARGETS, level_of

    palette = ["#4cafff", "#ffb74d", "#ba68c8", "#66ff99", "#00e5cc", "#ff6b6b", "#ffd54f",
               "#90a4ae", "#f06292", "#aed581"]
    panels = [("box_accuracy", "box accuracy"), ("hota", "HOTA"), ("idf1", "IDF1")]
    data: list[dict[str, Any]] = []
    for i, (strategy, rows) in enumerate(ds["rows"].items()):
        colour = palette[i % len(palette)]
        # a level of 0 s/frame (pre-labels alone) has no place on the log axis
        rows = sorted((r for r in rows if r["human_s_per_frame"] > 0),
                      key=lambda r: r["human_s_per_frame"])
        text = [f"{strategy}: {level_of(r)}<br>" + ", ".join(
            f"{k} {v}" for k, v in (r.get("actions") or {}).items() if v) for r in rows]
        for p, (key, label) in enumerate(panels):
            axis = "" if p == 0 else str(p + 1)
            data.append({"type": "scatter", "mode": "lines+markers", "name": strategy,
                         "legendgroup": strategy, "showlegend": p == 0,
                         "x": [r["human_s_per_frame"] for r in rows],
                         "y": [r.get(key) for r in rows], "text": text,
                         "line": {"color": colour}, "marker": {"size": 6},
                         "hovertemplate": "%{text}<br>%{x:.3f} s/frame, " + label +
                                          " %{y:.3f}<extra></extra>",
                         "xaxis": f"x{axis}", "yaxis": f"y{axis}"})
        cross = ds["crossings"].get(strategy, {})
        xs = [(cross.get(t), float(t)) for t in TARGETS if cross.get(t) is not None]
        if xs:
            data.append({"type": "scatter", "mode": "markers", "name": f"{strategy} crossings",
                         "legendgroup": strategy, "showlegend": False,
                         "x": [x for x, _ in xs], "y": [y for _, y in xs],
                         "marker": {"symbol": "circle-open", "size": 14, "color": colour,
                                    "line": {"width": 2}},
                         "hovertemplate": strategy + " crosses %{y:.0%} at %{x:.3f} s/frame"
                                          "<extra></extra>", "xaxis": "x", "yaxis": "y"})
    shapes = [{"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": float(t),
               "y1": float(t), "line": {"color": "#9aa5b1", "dash": "dot", "width": 1}}
              for t in TARGETS]
    shapes += [{"type": "line", "xref": f"x{a}", "x0": published, "x1": published,
                "yref": f"y{a} domain", "y0": 0, "y1": 1,
                "line": {"color": "#ff6b6b", "dash": "dash", "width": 1.5}}
               for a in ("", "2", "3")]
    annotations = [{"xref": "x", "yref": "y domain", "x": np.log10(published), "y": 1.0,
                    "text": f"published {published} s/frame", "showarrow": False,
                    "font": {"color": "#ff6b6b", "size": 11}, "xanchor": "left"}]
    layout = _layout(height=820, hovermode="closest", shapes=shapes, annotations=annotations,
                     meta={"dataset": name})
    for p, (_, label) in enumerate(panels):
        axis = "" if p == 0 else str(p + 1)
        top = 1.0 - p * 0.34
        layout[f"xaxis{axis}"] = {**_GRID, "type": "log", "anchor": f"y{axis}",
                                  "title": {"text": "human s/frame (log)" if p == 2 else ""},
                                  **({"matches": "x"} if p else {})}
        layout[f"yaxis{axis}"] = {**_GRID, "title": {"text": label}, "domain": [top - 0.28, top],
                                  "anchor": f"x{axis}"}
    return {"data": data, "layout": layout}
