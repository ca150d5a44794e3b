"""`key=value` overrides of a dataclass config, as typed on a command line.

    lr=1e-3  steps=200  betas=[0.5,0.9]  loss_weights.mel=3  codec.n_q=2  data=/some/folder

The value is read as JSON when it parses (numbers, true/false, lists, dicts, quoted strings),
otherwise taken as a plain string. A dotted key sets one entry of a dict field. The value must
fit the field's current type (an int is accepted where a float is expected); unknown keys are
an error listing the valid ones, so a typo never passes silently.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from audiogen.errors import AudiogenError


def _parse(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _coerce(key: str, text: str, current: Any) -> Any:
    """The typed value of `text` for a setting whose current value is `current`."""
    if isinstance(current, str):
        return text  # paths and names stay verbatim, even when they look like numbers
    value = _parse(text)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if current is None:
        return value
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if is_number:
            return float(value)
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, (list, tuple)):
        if isinstance(value, list):
            return type(current)(value)
    elif isinstance(current, dict) and isinstance(value, dict):
        return value
    raise AudiogenError(f"override {key}={text}: expected a value like {current!r} "
                        f"({type(current).__name__}).")


def apply_overrides(config: Any, overrides: list[str]) -> Any:
    """Return a copy of the dataclass `config` with `key=value` strings applied."""
    names = [f.name for f in dataclasses.fields(config)]
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise AudiogenError(f"override {item!r}: expected key=value.")
        field, _, sub = key.partition(".")
        if field not in names:
            raise AudiogenError(f"unknown setting {field!r}; valid settings: {', '.join(names)}.")
        current = changes.get(field, getattr(config, field))
        if sub:
            if not isinstance(current, dict):
                raise AudiogenError(f"override {key}: {field} is not a dict setting.")
            updated = dict(current)
            updated[sub] = _coerce(key, text, current.get(sub))
            changes[field] = updated
        else:
            changes[field] = _coerce(key, text, current)
    return dataclasses.replace(config, **changes)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
