"""The command-line interface: Typer commands that build, call one core function, render."""
