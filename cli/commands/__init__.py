"""Built-in command groups; each module imports its heavy dependencies inside its commands."""
