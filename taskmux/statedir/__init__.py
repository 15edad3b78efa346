"""The per-project state folder: paths, private files, locks, the one-supervisor claim."""
