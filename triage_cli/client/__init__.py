"""The terminal as a client of a team's `triage serve` (`--server URL`): an HTTP client of its
API (http.py) and a session that turns the server's events back into the engine's Event objects
(remote_session.py), so the same views render them. Nothing here builds an engine or opens a
store: the server does both."""
