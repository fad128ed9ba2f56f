"""storefronts layer (see DESIGN §2)."""
