"""Annotation effort: a documented cost model, a simulated annotator and review strategies.

`cost` (seconds per human action), `oracle` (the corrections a careful person makes, from ground
truth), `strategies` (manual keyframes, uniform review, ranked review) and `run` (the benchmark:
human seconds per frame vs final quality on MOT15 and KITTI Car).
"""
