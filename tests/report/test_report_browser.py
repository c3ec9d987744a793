"""The PETS09 dashboard in a real headless Chromium (Debian's chromium driven by Playwright),
served from a loopback HTTP server and opened from file://: no console error, no failed request,
every section present and drawn, the timeline one row per track, the queued frames previewed.

Screenshots go to the test's temporary folder, or to $TRACKANNOT_SCREENSHOTS when set (how
docs/dashboard.png was made).
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.report._pets import KEY, queued_frames
from trackannot.session import VideoSession

CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/setup_servers.sh installs it)
PAGES = {"index": "index.html", "video": f"videos/{KEY}.html", "lead": f"videos/{KEY}.lead.html",
         "compare": "compare.html"}
SECTIONS = {"index": ["videos", "advice"], "video": ["summary", "timeline", "previews", "review",
                                                     "advice"],
            "lead": ["summary", "timeline", "previews", "review", "audit", "advice"],
            "compare": ["compare-0", "compare-1"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} missing: run .ci/setup_servers.sh"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(pets_report: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(pets_report))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _open(browser, url: str) -> tuple[object, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_function("[...document.querySelectorAll('div.plot')]"
                           ".every(d => d.dataset.drawn === '1')", timeout=30_000)
    return page, problems


@pytest.mark.parametrize("via", ["http", "file"])
def test_every_page_opens_and_draws(browser, served: str, pets_report: Path, pets_store: Path,
                                    tmp_path: Path, via: str) -> None:
    base = served if via == "http" else pets_report.as_uri() + "/"
    shots = Path(os.environ.get("TRACKANNOT_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    tracks = len(np.unique(VideoSession.open(pets_store, KEY).boxes().track_id))
    for name, path in PAGES.items():
        page, problems = _open(browser, base + path)
        try:
            for section in SECTIONS[name]:
                box = page.locator(f"section[data-section='{section}']").bounding_box()
                assert box is not None and box["height"] > 40, (name, section)
            plots = page.locator("div.plot")
            for i in range(plots.count()):  # Plotly drew an SVG with something in it
                assert plots.nth(i).locator("svg.main-svg").count() >= 1
                assert plots.nth(i).locator("g.trace, g.hm").count() >= 1, (name, i)
            if name in ("video", "lead"):
                rows = page.evaluate("""() => {
                    const gd = document.getElementById('fig-timeline');
                    const ys = new Set();
                    for (const t of gd.data) if (t.mode === 'lines')
                        for (const y of t.y) if (y !== null) ys.add(y);
                    return [ys.size, gd.querySelectorAll('.ytick').length];
                }""")
                assert rows == [tracks, tracks]
                shown = page.evaluate("""() => [...document.querySelectorAll('figure[data-frame]')]
                    .filter(f => { const i = f.querySelector('img');
                                   return i.complete && i.naturalWidth > 0; })
                    .map(f => Number(f.dataset.frame))""")
                assert set(queued_frames(pets_store)) <= set(shown)
                honeypots = page.evaluate("() => document.getElementById('fig-timeline').data"
                                          ".filter(t => t.name === 'honeypots').length")
                assert (honeypots > 0) == (name == "lead")
            page.screenshot(path=str(shots / f"{via}-{name}.png"), full_page=True)
            assert problems == [], problems
        finally:
            page.close()


def test_zooming_the_timeline_redraws_it(browser, served: str) -> None:
    page, problems = _open(browser, served + PAGES["video"])
    try:
        before = page.evaluate("() => document.getElementById('fig-timeline').layout.xaxis.range")
        page.evaluate("() => Plotly.relayout('fig-timeline', {'xaxis.range': [100, 200]})")
        after = page.evaluate("() => document.getElementById('fig-timeline')._fullLayout"
                              ".xaxis.range")
        assert before != after and [round(x) for x in after] == [100, 200]
        assert problems == []
    finally:
        page.close()


def test_the_demo_dashboard_opens(browser, tmp_path: Path) -> None:
    """The demo's store (the synthetic clip tracked by the bundled model, its queue answered by
    the simulated reviewer), reported and opened from file://: no error, every section drawn,
    one timeline row per track, and the review section shows the answered items, over time,
    with the rates; the lead's page the reviewer's audit row."""
    from trackannot.demo.run import REVIEWER, run_demo
    from trackannot.report import write_report

    demo = run_demo(tmp_path / "demo", seconds=3.0, seed=7)
    assert demo.review is not None and demo.review.answered > 0
    answered = demo.review.answered
    store = tmp_path / "demo" / "demo.zarr"
    index = write_report(store, tmp_path / "report")
    session = next(VideoSession.all(store))
    tracks = len(np.unique(session.boxes().track_id))
    video = tmp_path / "report" / "videos" / f"{session.key}.html"
    lead = tmp_path / "report" / "videos" / f"{session.key}.lead.html"
    for path in (index, video, lead):
        page, problems = _open(browser, path.as_uri())
        try:
            sections = page.eval_on_selector_all("section[data-section]",
                                                 "s => s.map(x => x.dataset.section)")
            if path != index:
                assert {"summary", "timeline", "previews", "review", "advice"} <= set(sections)
                rows = page.evaluate("() => document.getElementById('fig-timeline').data"
                                     ".filter(t => t.mode === 'lines').flatMap(t => t.y)"
                                     ".filter(y => y !== null)")
                assert len(set(rows)) == tracks
                assert page.locator("figure[data-frame] img").count() >= 1
                review = page.locator("section[data-section='review']")
                # the queue's row: its items and how many were answered
                cells = review.locator("table tr").nth(1).locator("td").all_inner_texts()
                assert cells[0] == demo.review.queue_id
                assert [int(c) for c in cells[4:6]] == [demo.review.items, answered]
                # items answered over time, drawn: the reviewer's line ends at the count
                last = page.evaluate("() => document.getElementById('fig-answers').data"
                                     ".map(t => [t.name, t.y[t.y.length - 1]])")
                assert last == [[REVIEWER, answered]]
                times = page.evaluate("() => new Set(document.getElementById('fig-answers')"
                                      ".data[0].x).size")
                assert times > 1  # answered look by look, not all at one instant
                assert review.locator("#fig-answers svg.main-svg").count() >= 1
                cards = dict(zip(review.locator(".card span.muted").all_inner_texts(),
                                 review.locator(".card b").all_inner_texts()))
                assert int(cards["answered"]) == answered
                assert cards["acceptance"].endswith("%") and cards["correction rate"].endswith("%")
            if path == lead:
                audit = page.locator("section[data-section='audit'] table tr").nth(1)
                cells = audit.locator("td").all_inner_texts()
                assert cells[0] == REVIEWER and int(cells[1]) == answered
            assert problems == [], problems
        finally:
            page.close()
