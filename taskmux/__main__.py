"""Entry point for the `taskmux` console script and `python -m taskmux`."""

from __future__ import annotations


def main() -> None:
    """Run the CLI; importing it here keeps `python -m taskmux` and the script identical."""
    from taskmux.cli.entry import run

    run()


if __name__ == "__main__":
    main()
