"""SpecError: a ModelService the operator cannot act on, with the field to fix."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError


class SpecError(ValueError):
    """Invalid input, reported per field in the wire's camelCase path.

    The reconcile layer turns it into `Ready=False, reason=InvalidSpec`;
    it never crashes the operator.
    """

    def __init__(self, problems: Iterable[tuple[str, str]]) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        super().__init__("; ".join(_line(path, msg) for path, msg in self.problems))

    @property
    def field(self) -> str:
        """Path of the first problem, e.g. spec.runtime.tensorParallelSize."""
        return self.problems[0][0] if self.problems else ""

    @classmethod
    def from_validation_error(cls, error: ValidationError, prefix: str = "") -> SpecError:
        """Name each field by its wire path: spec.runtime.env[0].name."""
        problems = []
        for item in error.errors(include_url=False):
            path = format_path(item["loc"], prefix)
            msg = str(item["msg"]).removeprefix("Value error, ")
            problems.append((path, msg))
        return cls(problems)


def format_path(loc: Iterable[int | str], prefix: str = "") -> str:
    """('spec', 'runtime', 'env', 0, 'name') -> 'spec.runtime.env[0].name'."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" in part or "(" in part:
            continue  # a pydantic validator or union tag, not a field
        else:
            path = f"{path}.{part}" if path else part
    return path


def _line(path: str, msg: str) -> str:
    return msg if not path or msg.startswith(path) else f"{path}: {msg}"
