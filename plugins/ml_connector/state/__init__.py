"""state layer (see DESIGN §2)."""
