"""erps layer (see DESIGN §2)."""
