"""Command-line interface (click), imported as trackannot.cli."""
