"""Exporters to the formats annotation and evaluation tools read."""
