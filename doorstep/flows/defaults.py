"""The shipped default flows: ``defaults.yaml`` beside this module, validated once when first read.

A store uses these for every flow key it has not saved its own version of (``flows`` table). A broken
defaults file is a programming error and fails loudly at first use (and in the tests), never silently.
"""

from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from doorstep.flows.schemas import FlowDefinition

PATH = Path(__file__).resolve().parent / "defaults.yaml"


def parse(text: str) -> dict[str, FlowDefinition]:
    """Flows from YAML text shaped like ``defaults.yaml`` (``flows: {key: definition}``)."""
    raw: Any = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("flows"), dict):
        raise ValueError("a flows file is a mapping with a 'flows' mapping of key → flow")
    flows: dict[str, FlowDefinition] = {}
    for key, body in raw["flows"].items():
        try:
            flows[str(key)] = FlowDefinition.model_validate(body)
        except ValidationError as exc:
            raise ValueError(f"flow {key!r} in the defaults is invalid: {exc}") from exc
    return flows


@lru_cache(maxsize=1)
def load() -> MappingProxyType[str, FlowDefinition]:
    """The default flows by key, read-only."""
    return MappingProxyType(parse(PATH.read_text(encoding="utf-8")))
