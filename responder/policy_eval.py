"""A small IAM policy evaluator: enough to prove our session revocation does what it says.

Why it exists: moto stores IAM policies but does not evaluate identity-policy conditions. Its
opt-in access control (``INITIAL_NO_AUTH_ACTION_COUNT``) understands ``StringEquals`` only and
treats every other operator, ``DateLessThan`` included, as *true*; so under moto a Deny on
``aws:TokenIssueTime`` would deny old and new sessions alike. Tests and the demo therefore check
the revocation with :func:`evaluate` instead.

What it does (the IAM evaluation logic for the identity policies of one principal):

- an explicit Deny in any matching statement wins; else any matching Allow allows; else implicit deny;
- ``Action``/``NotAction`` with ``*`` and ``?`` wildcards, case-insensitive;
- ``Resource``/``NotResource`` with ``*`` and ``?`` wildcards, case-sensitive (a statement without
  either matches every resource);
- ``Condition``: every operator and every key must hold (AND); several values for one key are OR'd
  (for a negated operator, the key must match none of them);
- operators ``StringEquals``, ``StringNotEquals``, ``StringEqualsIgnoreCase``,
  ``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``, ``Bool``, ``Null``,
  ``Numeric{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}``,
  ``Date{Equals,NotEquals,LessThan,LessThanEquals,GreaterThan,GreaterThanEquals}`` (ISO 8601 or
  epoch seconds), each also as ``...IfExists``;
- a context key missing from the request makes the condition false, except that a negated operator
  (``StringNotEquals``, ``StringNotLike``, ``NumericNotEquals``, ``DateNotEquals``...) is then true,
  as the IAM reference says ("If the policy condition requires that the key is not matched ... and
  the right key is not present, the condition is true"); ``...IfExists`` is true when the key is
  missing. Context key names are case-insensitive, as in IAM.

What it does not do (and refuses rather than guesses): ``ForAnyValue:``/``ForAllValues:``, multi-valued
context keys, IP/ARN/Binary operators, policy variables (``${aws:username}``), principals,
resource-based policies, permission boundaries, SCPs and session policies. An unsupported operator
raises :class:`ValueError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

Decision = Literal["allow", "explicit_deny", "implicit_deny"]


@lru_cache(maxsize=512)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """``*`` = any run of characters (``/`` and ``:`` included), ``?`` = one character; nothing else is special."""
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches_any(patterns: Iterable[str], value: str, *, ignore_case: bool) -> bool:
    return any(_wildcard(p, ignore_case=ignore_case).match(value) for p in patterns)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [_scalar(v) for v in value]
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    # Policies may carry JSON booleans or numbers where IAM compares their text ("true", "10").
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_time(value: str) -> datetime:
    """An IAM date value: ISO 8601 (``Z``, an offset or none = UTC; fractions allowed) or epoch seconds."""
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: str) -> float:
    return float(value)


Compare = Callable[[str, str], bool]

# name -> (compare(context value, policy value), negated)
_OPERATORS: dict[str, tuple[Compare, bool]] = {
    "StringEquals": (lambda c, p: c == p, False),
    "StringNotEquals": (lambda c, p: c == p, True),
    "StringEqualsIgnoreCase": (lambda c, p: c.casefold() == p.casefold(), False),
    "StringNotEqualsIgnoreCase": (lambda c, p: c.casefold() == p.casefold(), True),
    "StringLike": (lambda c, p: bool(_wildcard(p, ignore_case=False).match(c)), False),
    "StringNotLike": (lambda c, p: bool(_wildcard(p, ignore_case=False).match(c)), True),
    "Bool": (lambda c, p: c.strip().lower() == p.strip().lower(), False),
    "NumericEquals": (lambda c, p: _number(c) == _number(p), False),
    "NumericNotEquals": (lambda c, p: _number(c) == _number(p), True),
    "NumericLessThan": (lambda c, p: _number(c) < _number(p), False),
    "NumericLessThanEquals": (lambda c, p: _number(c) <= _number(p), False),
    "NumericGreaterThan": (lambda c, p: _number(c) > _number(p), False),
    "NumericGreaterThanEquals": (lambda c, p: _number(c) >= _number(p), False),
    "DateEquals": (lambda c, p: parse_time(c) == parse_time(p), False),
    "DateNotEquals": (lambda c, p: parse_time(c) == parse_time(p), True),
    "DateLessThan": (lambda c, p: parse_time(c) < parse_time(p), False),
    "DateLessThanEquals": (lambda c, p: parse_time(c) <= parse_time(p), False),
    "DateGreaterThan": (lambda c, p: parse_time(c) > parse_time(p), False),
    "DateGreaterThanEquals": (lambda c, p: parse_time(c) >= parse_time(p), False),
}


def _condition_holds(operator: str, key: str, policy_values: list[str], context: Mapping[str, str]) -> bool:
    if ":" in operator:
        raise ValueError(f"set operators are not supported: {operator}")
    actual = context.get(key.lower())
    if operator == "Null":
        # {"Null": {"k": "true"}} holds when k is absent; "false" when it is present.
        return any((actual is None) == (v.strip().lower() == "true") for v in policy_values)
    if_exists = operator.endswith("IfExists")
    name = operator.removesuffix("IfExists") if if_exists else operator
    if name not in _OPERATORS:
        raise ValueError(f"unsupported condition operator: {operator}")
    compare, negated = _OPERATORS[name]
    if actual is None:
        return if_exists or negated
    if negated:
        return not any(compare(actual, v) for v in policy_values)
    return any(compare(actual, v) for v in policy_values)


def _conditions_hold(conditions: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    for operator, block in (conditions or {}).items():
        if not isinstance(block, Mapping):
            raise ValueError(f"condition {operator!r} must map keys to values")
        for key, values in block.items():
            if not _condition_holds(operator, key, _as_list(values), context):
                return False
    return True


def _statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]
) -> bool:
    if "Action" in statement:
        if not _matches_any(_as_list(statement["Action"]), action, ignore_case=True):
            return False
    elif "NotAction" in statement:
        if _matches_any(_as_list(statement["NotAction"]), action, ignore_case=True):
            return False
    else:
        return False  # a statement with neither names no action
    if "Resource" in statement:
        if not _matches_any(_as_list(statement["Resource"]), resource, ignore_case=False):
            return False
    elif "NotResource" in statement and _matches_any(
        _as_list(statement["NotResource"]), resource, ignore_case=False
    ):
        return False
    return _conditions_hold(statement.get("Condition"), context)


def _statements(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statement = policy.get("Statement", [])
    return [statement] if isinstance(statement, Mapping) else list(statement)


def evaluate(
    policies: Sequence[Mapping[str, Any]],
    *,
    action: str,
    resource: str = "*",
    context: Mapping[str, str],
) -> Decision:
    """Decide one request against a principal's identity policies: deny wins, then allow, else implicit deny.

    ``context`` holds the request's condition keys, e.g. ``{"aws:TokenIssueTime": "2024-05-01T12:00:00Z"}``
    (leave ``aws:TokenIssueTime`` out for a request signed with a long-term access key: AWS does).
    """
    folded = {k.lower(): v for k, v in context.items()}
    allowed = False
    for policy in policies:
        for statement in _statements(policy):
            if not _statement_applies(statement, action, resource, folded):
                continue
            effect = statement.get("Effect")
            if effect == "Deny":
                return "explicit_deny"
            if effect == "Allow":
                allowed = True
            else:
                raise ValueError(f"statement Effect must be Allow or Deny, not {effect!r}")
    return "allow" if allowed else "implicit_deny"
