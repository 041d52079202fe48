"""Does an EventBridge rule's pattern match an event? moto's matcher, with EventBridge's input checks.

moto 5.2.5 does not implement the ``TestEventPattern`` API (its response handler is a stub: the
call "succeeds" with no ``Result``), so :func:`matches_rule` calls the matcher moto's ``PutEvents`` uses to
route events to rule targets (``moto.events.models.EventPattern``), which is what the emulated
detection rule does in the demo. Around it, the checks that EventBridge makes and moto does not:
the event must carry the full envelope (as ``TestEventPattern`` demands), and the pattern may only
use EventBridge's operators (moto treats an unknown operator as matching everything).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from workstation.local.errors import InvalidEvent, InvalidEventPattern

ENVELOPE_FIELDS: Final = ("id", "account", "source", "time", "region", "resources", "detail-type")
OPERATORS: Final = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr", "wildcard"}
)
_NUMERIC_OPERATORS: Final = frozenset({"<", "<=", "=", ">=", ">"})


def _check_filter(path: str, value: Any) -> None:
    if not isinstance(value, dict):
        return  # an exact value
    if len(value) != 1:
        raise InvalidEventPattern(f"{path}: a content filter has exactly one operator, got {sorted(value)}")
    operator, operand = next(iter(value.items()))
    if operator not in OPERATORS:
        raise InvalidEventPattern(f"{path}: unrecognized operator {operator!r}")
    if operator == "numeric":
        pairs = operand if isinstance(operand, list) else []
        if not pairs or len(pairs) % 2 or len(pairs) > 4:
            raise InvalidEventPattern(f"{path}: numeric takes 1 or 2 (operator, number) pairs")
        for op, number in zip(pairs[::2], pairs[1::2], strict=True):
            if (
                op not in _NUMERIC_OPERATORS
                or isinstance(number, bool)
                or not isinstance(number, int | float)
            ):
                raise InvalidEventPattern(f"{path}: bad numeric comparison {op!r} {number!r}")
    if operator == "exists" and not isinstance(operand, bool):
        raise InvalidEventPattern(f"{path}: exists takes true or false")


def _check_pattern(node: Any, path: str = "") -> None:
    if not isinstance(node, dict):
        raise InvalidEventPattern(f"{path or 'pattern'} must be an object")
    for key, value in node.items():
        where = f"{path}.{key}" if path else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidEventPattern(f"{where} takes a list of at least two patterns")
            for branch in value:
                _check_pattern(branch, path)
        elif isinstance(value, dict):
            _check_pattern(value, where)
        elif isinstance(value, list):
            if not value:
                raise InvalidEventPattern(f"{where}: empty arrays are not allowed")
            for item in value:
                _check_filter(where, item)
        else:
            raise InvalidEventPattern(f"{where} must be an object or an array")


def matches_rule(event_pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True when ``event`` (a full EventBridge event) matches ``event_pattern``.

    Raises :class:`InvalidEventPattern` for a pattern EventBridge would reject and
    :class:`InvalidEvent` for an event without the envelope fields (raw findings are not events).
    """
    from moto.events.models import EventPattern

    _check_pattern(dict(event_pattern))
    missing = [name for name in ENVELOPE_FIELDS if name not in event]
    if missing:
        raise InvalidEvent(f"not an EventBridge event, missing {', '.join(missing)}")
    try:
        pattern = EventPattern.load(json.dumps(event_pattern))
    except Exception as exc:  # moto's InvalidEventPatternException
        raise InvalidEventPattern(str(exc)) from exc
    return bool(pattern.matches_event(json.loads(json.dumps(event))))
