"""Keep secrets out of reports: CloudTrail records carry session tokens, and sometimes passwords.

:func:`redact` replaces each secret with ``<redacted sha256:...>`` (the digest lets an analyst match
it against evidence without reading it) and lists what it removed. It looks at key names (anywhere,
also inside JSON text) and at values that look like AWS secrets whatever their key.

A digest of a low-entropy secret (a password) can be guessed offline; the report is for the SOC,
not the public, and the digest is what ties a report line to the raw evidence.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

REDACTED_PREFIX = "<redacted sha256:"

# Keys compared lower-cased with '_' and '-' removed.
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "newpassword",
        "oldpassword",
        "masteruserpassword",
        "sessiontoken",
        "securitytoken",
        "xamzsecuritytoken",
        "secretaccesskey",
        "awssecretaccesskey",
        "secretkey",
        "privatekey",
        "secretstring",
        "secretbinary",
        "authorizationtoken",
        "accesstoken",
        "refreshtoken",
        "idtoken",
        "clientsecret",
        "keymaterial",
        "plaintext",
        "userdata",
    }
)
_SECRET_SUFFIXES = ("password", "secretaccesskey", "sessiontoken", "privatekey", "secretstring")

# Secrets that may sit under any key, or inside free text (a command line, a policy, user data).
_VALUE_PATTERNS = (
    # STS session tokens (current and legacy formats).
    re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]{20,}"),
    # PEM private keys.
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    # A 40-character secret access key standing alone (mixed case and a digit or / or +).
    re.compile(
        r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
        r"(?=[A-Za-z0-9/+]{0,39}[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
    ),
)


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def placeholder(digest: str) -> str:
    return f"{REDACTED_PREFIX}{digest}>"


def is_secret_key(key: str) -> bool:
    norm = key.lower().replace("_", "").replace("-", "")
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)


def _secret_value(value: Any, path: str, removed: list[dict[str, str]]) -> Any:
    """A value under a secret key: strings are replaced; flags and nulls stay; structures are searched."""
    if isinstance(value, dict | list):
        return _walk(value, path, removed)
    if value is None or isinstance(value, bool | int | float) or value == "":
        return value
    if isinstance(value, str) and value.startswith(REDACTED_PREFIX):
        return value
    raw = str(value)
    digest = sha256_text(raw)
    removed.append({"path": path, "sha256": digest})
    return placeholder(digest)


def _scrub_text(value: str, path: str, removed: list[dict[str, str]]) -> str:
    def replace(match: re.Match[str]) -> str:
        digest = sha256_text(match.group(0))
        removed.append({"path": path, "sha256": digest})
        return placeholder(digest)

    for pattern in _VALUE_PATTERNS:
        value = pattern.sub(replace, value)
    return value


def _walk(obj: Any, path: str, removed: list[dict[str, str]]) -> Any:
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            child = f"{path}.{key}"
            if isinstance(key, str) and is_secret_key(key):
                out[key] = _secret_value(value, child, removed)
            else:
                out[key] = _walk(value, child, removed)
        return out
    if isinstance(obj, list | tuple):
        return [_walk(item, f"{path}[{i}]", removed) for i, item in enumerate(obj)]
    if isinstance(obj, str):
        stripped = obj.lstrip()
        if stripped[:1] in {"{", "["}:
            # JSON text (a row's request_parameters, a policy document): look inside by key.
            try:
                parsed = json.loads(obj)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                before = len(removed)
                cleaned = _walk(parsed, path, removed)
                if len(removed) > before:
                    return json.dumps(cleaned, sort_keys=True)
                return obj
        return _scrub_text(obj, path, removed)
    return obj


def redact(obj: Any) -> tuple[Any, list[dict[str, str]]]:
    """A copy of ``obj`` with every secret replaced, and ``[{"path", "sha256"}]`` of what was removed."""
    removed: list[dict[str, str]] = []
    return _walk(obj, "$", removed), removed


def redacted(obj: Any) -> Any:
    """The redacted copy alone."""
    return redact(obj)[0]
