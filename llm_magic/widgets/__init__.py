"""Widgets that render runtime state: each has a plain-text fallback for terminal IPython."""
