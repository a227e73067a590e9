"""Field types that read well from an environment variable."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import NoDecode


def split_commas(value: Any) -> Any:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``; a list (from YAML) is left as it is."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# A list given as `A,B,C` in the environment (or a `_FILE`) and as a YAML list in a file. NoDecode
# stops pydantic-settings from expecting JSON in the variable.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(split_commas)]
