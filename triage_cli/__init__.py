"""triage: a terminal support-triage assistant."""

__version__ = "0.1.0"
