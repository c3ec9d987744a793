"""What trackannot does with damaged and non-video files: the table in benchmarks/RESULTS.md.

Builds the damaged-video corpus of the tests (`tests/_corpus.py`: five containers cut at 30, 60
and 90% of their bytes and with garbage in the middle, variable frame rate, rotated, 0 bytes,
random bytes, text, an image, audio, an MKV named .mp4) in a temporary folder, runs the pipeline
on it as `trackannot track FOLDER` does (`collect_videos`, then `track_videos` with the bundled
demo model, offline, every frame), and prints one Markdown row per file: what was done to it,
its container, what happened (complete, FAILED with N of M frames kept, skipped) and the message.

Run from the repository root:

    python -m benchmarks.damaged_corpus
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # the bundled model needs no download
os.environ.setdefault("YOLO_VERBOSE", "False")

from tests._corpus import CorpusFile, make_damaged_corpus  # noqa: E402
from trackannot.config import load_config  # noqa: E402
from trackannot.detect import make_detector  # noqa: E402
from trackannot.errors import InputFormatError  # noqa: E402
from trackannot.inputs import collect_videos  # noqa: E402
from trackannot.pipeline import VideoSummary, track_videos  # noqa: E402

COMMAND = "python -m benchmarks.damaged_corpus"
_EXCERPT_CHARS = 120


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the corpus and store here (kept)")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(corpus_table(args.keep))
        return 0
    with tempfile.TemporaryDirectory(prefix="trackannot-corpus-") as tmp:
        print(corpus_table(Path(tmp)))
    return 0


def corpus_table(work: Path) -> str:
    """Build the corpus under `work`, track it, and return the Markdown table."""
    folder = work / "corpus"
    files = make_damaged_corpus(folder)
    inputs = collect_videos([folder])
    skipped = {s.path.name: s.reason for s in inputs.skipped}
    cfg = load_config(None, ["detect.imgsz=64"])
    summaries = track_videos(inputs.videos, work / "corpus.zarr", cfg,
                             make_detector(cfg.detect), detector_info={"weights": "demo"})
    by_name = {Path(s.path).name: s for s in summaries}
    rows = ["| case | container | file | what happens | message (excerpt) |",
            "|---|---|---|---|---|"]
    for f in files:
        outcome, message = _outcome(f, by_name.get(f.name), skipped.get(f.name), folder)
        rows.append(f"| {f.case} | {f.container} | `{f.name}` | {outcome} | {message} |")
    return "\n".join(rows)


def _outcome(f: CorpusFile, summary: VideoSummary | None, reason: str | None,
             folder: Path) -> tuple[str, str]:
    if reason is not None:
        return "skipped", _excerpt(reason)
    if summary is None:
        raise InputFormatError(f"{f.name}: neither tracked nor skipped")
    of = f" of {f.written}" if f.written else ""
    if summary.ok:
        turned = f", turned {f.rotation} degrees" if f.rotation else ""
        return f"complete, {summary.frames}{of} frames{turned}", ""
    message = (summary.error or "").replace(f"{folder / f.name}: ", "")
    message = re.sub(r"^decoding failed after \d+ frames \(\d+ kept and yielded\): ", "", message)
    return f"**FAILED**, {summary.frames}{of} frames kept", _excerpt(message)


def _excerpt(text: str) -> str:
    text = text.replace("|", "/")
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


if __name__ == "__main__":
    sys.exit(main())
