"""core layer (see DESIGN §2)."""
