"""Command-line entry point."""
import click


@click.group()
def main() -> None:
    """trackannot: tracked pre-labels from video."""
