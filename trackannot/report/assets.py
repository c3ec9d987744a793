"""Files beside the pages: plotly.min.js (from the plotly package, written once) and the style."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CSS", "PLOTLY_JS", "STYLE", "write_assets"]

PLOTLY_JS = "assets/plotly.min.js"
STYLE = "assets/style.css"

# dark theme; the timeline's origin colours match the preview outlines
CSS = """
:root { --bg:#111418; --panel:#1b2027; --line:#2c333d; --text:#e3e7ec; --muted:#9aa5b1;
        --accent:#4cafff; --warn:#ffb74d; --bad:#ff6b6b; --good:#66ff99; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text);
       font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { padding:14px 24px; border-bottom:1px solid var(--line); display:flex; gap:24px;
         align-items:baseline; flex-wrap:wrap; }
header h1 { font-size:20px; margin:0; }
header nav a { margin-right:16px; }
main { padding:8px 24px 40px; max-width:1500px; }
a { color:var(--accent); }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px;
          padding:12px 16px; margin:16px 0; }
section h2 { margin:0 0 8px; font-size:16px; }
table { border-collapse:collapse; margin:6px 0; }
th, td { border-bottom:1px solid var(--line); padding:4px 10px; text-align:left; }
th { color:var(--muted); font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.note { border-left:3px solid var(--warn); padding:6px 10px; margin:8px 0; background:#2a2418; }
.bad { color:var(--bad); } .good { color:var(--good); } .muted { color:var(--muted); }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:12px; }
figure { margin:0; background:#0c0f12; border:1px solid var(--line); border-radius:6px; }
figure img { width:100%; display:block; border-radius:6px 6px 0 0; }
figcaption { padding:6px 8px; font-size:12px; }
figcaption ul { margin:4px 0 0; padding-left:16px; color:var(--muted); }
details summary { cursor:pointer; color:var(--muted); }
pre { white-space:pre-wrap; font-size:12px; color:var(--muted); }
.plot { width:100%; }
.cards { display:flex; gap:12px; flex-wrap:wrap; }
.card { background:#0c0f12; border:1px solid var(--line); border-radius:6px; padding:8px 12px;
        min-width:150px; }
.card b { display:block; font-size:18px; }
"""


def write_assets(out: Path) -> None:
    """Write assets/plotly.min.js (unless the same version is there) and assets/style.css."""
    import plotly
    from plotly.offline import get_plotlyjs

    folder = out / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    js = out / PLOTLY_JS
    stamp = folder / "plotly.version"
    if not (js.is_file() and stamp.is_file() and stamp.read_text() == plotly.__version__):
        partial = js.with_name(js.name + ".partial")
        partial.write_text(get_plotlyjs(), encoding="utf-8")
        partial.replace(js)
        stamp.write_text(plotly.__version__)
    (out / STYLE).write_text(CSS, encoding="utf-8")
