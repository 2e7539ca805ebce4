"""The application layer between the front ends and the engine: one conversation's life
(session.py), the journal that keeps it, the tickets its escalations file, and how the engine is
built from the settings. Front ends use `TriageSession` and nothing else from here."""

from triage_cli.engine.turn_summary import UsageTotals
from triage_cli.session.session import SharedEngine, TriageSession

__all__ = ["SharedEngine", "TriageSession", "UsageTotals"]
