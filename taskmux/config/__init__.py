"""The project's file: its shape, validation, edits, environment, dependency order, reload diff."""
