"""The base of every wire model: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Frozen, so a parsed spec can be hashed and shared without copies."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def wire(self) -> dict[str, object]:
        """The object as the API server stores it: camelCase keys, no unset fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
