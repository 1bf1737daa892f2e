"""CLI command modules; ``dispatch_engine.cli`` assembles them into one Typer app."""
