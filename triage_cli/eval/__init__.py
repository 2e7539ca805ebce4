"""Measuring triage: labelled cases (cases/dev.jsonl, cases/test.jsonl ship with the package),
run through a `TriageSession` like `ask`, scored per case and summed up (runner.py, scoring.py)."""
