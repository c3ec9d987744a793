"""`trackannot report`: a self-contained dashboard of a store, in a dark theme.

`write_report(store, out_dir)` writes ``out_dir/index.html`` (every video of the store), one page
per video (``videos/<key>.html``), the workflow comparison page (``compare.html``, from the effort
benchmark's results) and ``assets/`` beside them: ``plotly.min.js`` written once, the style sheet
and the preview thumbnails. Nothing is fetched at view time, so the pages open from disk
(file://) and from any static file server.

Why Plotly: it is a well-kept, widely used plotting library whose one JavaScript file (written
once beside the pages, ~4.7 MB, so each page stays a few hundred kB) draws zoomable timelines
with hover, and whose Python package builds the figures as plain JSON; no drawing code of our
own beyond the preview thumbnails (boxes on the decoded frames, drawn with Pillow).

The package, one job per module: `gather` (read a store's video into plain data: summary,
boxes by origin, risk, queues, answers, audit, advice, scores), `timeline` (per-track runs by
origin and the marks, downsampled for long videos without dropping marks), `previews` (decode
the riskiest and the queued frames, draw the boxes and reasons, write thumbnails), `compare`
(the effort benchmark's curves and crossing points), `figures` (Plotly figures as JSON),
`render` (HTML pages) and `assets` (the style sheet and plotly.min.js).
"""

from __future__ import annotations

from trackannot.report.write import write_report

__all__ = ["write_report"]
