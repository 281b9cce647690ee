"""Field types shared by the spec models."""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from modelplane.api.quantity import canonical_quantity

# A non-negative Kubernetes quantity ("4", "500m", "32Gi", "1e3"). The
# apiserver's own pattern also admits a sign; requests cannot be negative.
QUANTITY_PATTERN: Final = (
    r"^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _int_to_str(value: object) -> object:
    """YAML `cpu: 4` arrives as an int; keep one spelling so hashes agree with "4"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _canonical(value: str) -> str:
    """Checked and spelled as the API server stores it, so equal sizes compare equal."""
    if re.fullmatch(QUANTITY_PATTERN, value) is None:
        raise ValueError(f"{value!r} is not a quantity; write e.g. 4, 500m, 32Gi or 8Gi")
    return canonical_quantity(value)


Quantity = Annotated[
    str,
    BeforeValidator(_int_to_str),
    AfterValidator(_canonical),
    WithJsonSchema({"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN}),
]

LABEL_VALUE_PATTERN: Final = "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
