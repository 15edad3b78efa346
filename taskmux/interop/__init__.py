"""Moving in and out: imports, exports, agents' context files."""
