"""Errors as the API answers them: `{"error": {"message": ..., "code": ...}}` with a 4xx status.
The store's and the session's own errors map to one each; nothing answers with a traceback."""

from __future__ import annotations

from typing import Any

from triage_cli.errors import (
    ConfigError, ConversationBusy, InvalidValue, NotFound, QueueEmpty, StoreError, TriageError, UsageError,
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "code": self.code}}


def from_triage_error(error: TriageError) -> ApiError:
    """A user's mistake is a 4xx naming it; a store or setting the server cannot use is a 503."""
    message = str(error)
    if isinstance(error, NotFound):
        return ApiError(404, "not_found", message)
    if isinstance(error, QueueEmpty):  # nothing to claim: the queue's state, not a fault
        return ApiError(404, "queue_empty", message)
    if isinstance(error, ConversationBusy):  # answered right now, here or by another replica
        return ApiError(409, "busy", message)
    if isinstance(error, (InvalidValue, UsageError)):
        return ApiError(400, "invalid", message)
    if isinstance(error, (StoreError, ConfigError)):
        return ApiError(503, "unavailable", message)
    return ApiError(502, "failed", message)
