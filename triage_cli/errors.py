"""The exceptions triage raises on purpose. Each carries a one-line message for the user."""

from __future__ import annotations


class TriageError(Exception):
    """Base class: something the user can act on, reported as one line."""

    exit_code = 1


class ConfigError(TriageError):
    """Bad configuration or usage: unknown provider, missing key, malformed config file."""

    exit_code = 2


class UsageError(TriageError):
    """The command line or the input cannot be used (no question, empty stdin)."""

    exit_code = 2


class StoreError(TriageError):
    """The order store or the data directory cannot be used."""


class ModelError(TriageError):
    """The model endpoint failed: unreachable, refused the key, returned an error."""


class StructuredOutputRejected(ModelError):
    """The endpoint refused a request because of its response_format (no structured output)."""
