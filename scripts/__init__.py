"""Developer scripts (demo)."""
