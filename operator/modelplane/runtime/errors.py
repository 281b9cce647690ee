"""The one failure the launcher reports, with a stable prefix the operator matches."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "ModelDownloadFailed"


class ModelDownloadFailed(Exception):
    """A model could not be resolved, fetched or verified; `cause` is one line, no secrets."""

    def __init__(self, cause: str, *, retryable: bool = False) -> None:
        super().__init__(cause)
        self.cause = " ".join(cause.split())  # always one line
        self.retryable = retryable

    def line(self) -> str:
        return f"{PREFIX}: {self.cause}"


class Retryable(ModelDownloadFailed):
    """A transient failure (connection, 5xx, read timeout): worth another attempt."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause, retryable=True)
