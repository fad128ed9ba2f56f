"""webhooks layer (see DESIGN §2)."""
