"""Adapters that plug trackannot into annotation tools (optional extras, imported on demand).

Each module needs its tool's extra (`pip install 'trackannot[cvat]'`, `[labelstudio]`,
`[serve]`) and is imported only by the command or backend that uses it, never by
`import trackannot`: for CVAT, `cvat` (auto-annotation functions for cvat-sdk's agent) and
`cvat_sync` (`trackannot push/pull cvat`); for Label Studio, the `labelstudio_*` modules
(`trackannot push/pull labelstudio`, `trackannot serve labelstudio`).
"""
