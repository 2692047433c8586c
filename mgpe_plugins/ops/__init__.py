"""Built-in edit operations: one module each; they prepare engine requests, never run networks."""
