"""Keep secrets out of reports: CloudTrail records carry session tokens, and sometimes passwords.

:func:`redact` replaces each secret with ``<redacted sha256:...>`` (the digest lets an analyst match
it against evidence without reading it) and lists what it removed. It looks at key names (anywhere,
also inside JSON text) and at values that look like AWS secrets whatever their key.

A plain SHA-256 of a low-entropy secret (a password) can be guessed offline. Pass ``key`` (a
secret pepper, e.g. from Secrets Manager) to get ``<redacted hmac-sha256:...>`` instead: still
matchable by whoever holds the key, useless for guessing without it. In Lambda the key is the
deployment's own secret (``REDACTION_KEY_SECRET_ARN``, created by the stack), read once per container
by :func:`deployment_key`; a handler sets it for everything it calls with :func:`keyed` (the
report's nested analyses and the log filter included). ``responder investigate`` has no deployment:
it keys each run with a random key kept nowhere, so digests match across that run's files only.
Plain SHA-256 remains only where no key was set at all (unit tests, library callers).

:class:`RedactingFilter` applies the same to log records (message, args and ``extra`` fields).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from responder.errors import RedactionKeyUnavailable
from responder.safejson import load_json

REDACTED_PREFIX = "<redacted sha256:"
_NO_SIZE_LIMIT = 1 << 62  # only the depth is bounded here: a large document is still searched by key
KEYED_PREFIX = "<redacted hmac-sha256:"
_ANY_PREFIX = "<redacted "

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

# Words that make a free-text "name=value" (or "name: value") a secret, as the name's ending.
_SECRET_WORDS = (
    r"(?:passw(?:or)?d|pwd|passphrase|secret|secret[_-]?(?:access[_-]?)?key|private[_-]?key"  # noqa: S105
    r"|api[_-]?key|token|credentials?|auth)"
)
# A name holding a secret, as a dict's "name"/"key" sibling of its "value" (SSM, ECS, tags).
_SECRET_NAME_RE = re.compile(
    r"(?i)(?:passw(?:or)?d|pwd|passphrase|secret|private[_-]?key|api[_-]?key|token|credential)"
)
_VALUE = r"(?!<redacted )(?!(?:true|false|null|none)\b)([^\s\"'&;,<>()\[\]{}]{4,})"

# Secrets that may sit under any key, or inside free text (a command line, a policy, user data,
# an SSM String parameter): (pattern, the group that is the secret; 0 for the whole match).
_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    # STS session tokens (current and legacy formats).
    (re.compile(r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9/+=]{20,}"), 0),
    # PEM private keys (bounded: a stray BEGIN must not make the scan quadratic).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.{0,16384}?-----END [A-Z ]*PRIVATE KEY-----", re.S), 0),
    # A PEM private key cut short (a truncated field still carries most of the key).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9/+=\s\\]{16,}"), 0),
    # password=..., DB_PASSWORD: ..., "client_secret": "...", x-amz-security-token: ... in free text.
    (
        re.compile(
            rf"(?i)(?<![A-Za-z0-9])[A-Za-z0-9_-]{{0,64}}{_SECRET_WORDS}[\"']?(?:\s*=\s*|\s*:\s+|:(?=[\"']))[\"']?"
            + _VALUE
        ),
        1,
    ),
    # Command-line flags: --password hunter2, --db-password=hunter2.
    (re.compile(r"(?i)--[A-Za-z0-9-]*(?:passw(?:or)?d|passphrase)(?:\s+|=)" + _VALUE), 1),
    # HTTP authorization values.
    (re.compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/-]{12,}=*)"), 1),
    # Passwords in URLs: scheme://user:password@host.
    (re.compile(r"://[^/\s:@]+:([^/\s@]{3,})@"), 1),
    # Token shapes of common services: GitHub, Slack, JWTs, Google API keys, Stripe, npm.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), 0),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), 0),
    (re.compile(r"\b[rs]k_live_[0-9A-Za-z]{20,}"), 0),
    (re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), 0),
    # A 40-character secret access key standing alone (mixed case and a digit or / or +).
    (
        re.compile(
            r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
            r"(?=[A-Za-z0-9/+]{0,39}[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
        ),
        0,
    ),
)

# The key digests are made with, when a caller passes none (see keyed()).
_KEY: ContextVar[bytes | None] = ContextVar("redaction_key", default=None)
_KEY_CACHE: dict[str, bytes] = {}
MIN_KEY_BYTES = 16


@contextmanager
def keyed(key: bytes | None) -> Iterator[None]:
    """Within the block, every redaction without an explicit ``key`` digests with this one."""
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


def current_key() -> bytes | None:
    """The key :func:`keyed` set for this context (None: plain SHA-256)."""
    return _KEY.get()


def deployment_key(secret_id: str, secrets: Callable[[], Any]) -> bytes | None:
    """The deployment's redaction key from Secrets Manager (cached per container); None without one.

    ``secrets`` makes the Secrets Manager client only when the key is not cached yet. A secret that
    cannot be read, or is shorter than 16 bytes, raises :class:`RedactionKeyUnavailable`: a run
    configured for keyed digests never falls back to guessable ones.
    """

    if not secret_id:
        return None
    cached = _KEY_CACHE.get(secret_id)
    if cached is not None:
        return cached
    try:
        value = secrets().get_secret_value(SecretId=secret_id)
    except Exception as exc:  # AccessDenied, not found, throttled: named, never a plain digest
        raise RedactionKeyUnavailable(
            f"redaction key secret unreadable: {type(exc).__name__}: {str(exc)[:200]}"
        ) from exc
    raw = value.get("SecretBinary") or str(value.get("SecretString") or "").encode("utf-8")
    if len(raw) < MIN_KEY_BYTES:
        raise RedactionKeyUnavailable(f"the redaction key secret holds fewer than {MIN_KEY_BYTES} bytes")
    _KEY_CACHE[secret_id] = bytes(raw)
    return bytes(raw)


def sha256_text(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hmac_text(value: str, key: bytes) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def placeholder(digest: str, keyed: bool = False) -> str:
    return f"{KEYED_PREFIX if keyed else REDACTED_PREFIX}{digest}>"


class _Removed(list[dict[str, str]]):
    """What was removed, and how digests are made (plain SHA-256, or HMAC with a key)."""

    def __init__(self, key: bytes | None) -> None:
        super().__init__()
        self.key = key if key is not None else _KEY.get()

    def take(self, value: str, path: str) -> str:
        if self.key is None:
            digest = sha256_text(value)
            self.append({"path": path, "sha256": digest})
        else:
            digest = hmac_text(value, self.key)
            self.append({"path": path, "hmac_sha256": digest})
        return placeholder(digest, keyed=self.key is not None)


def is_secret_key(key: str) -> bool:
    norm = key.lower().replace("_", "").replace("-", "")
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)


def _secret_value(value: Any, path: str, removed: _Removed) -> Any:
    """A value under a secret key: strings are replaced; flags and nulls stay; structures are searched."""
    if isinstance(value, dict | list):
        return _walk(value, path, removed)
    if value is None or isinstance(value, bool | int | float) or value == "":
        return value
    if isinstance(value, str) and value.startswith(_ANY_PREFIX):
        return value
    return removed.take(str(value), path)


def _scrub_text(value: str, path: str, removed: _Removed, wrap: Callable[[str], str] | None = None) -> str:
    for pattern, group in _VALUE_PATTERNS:

        def replace(match: re.Match[str], group: int = group) -> str:
            whole = match.group(0)
            if not group:
                digest = removed.take(whole, path)
                return wrap(digest) if wrap else digest
            start, end = match.span(group)
            offset = match.start()
            digest = removed.take(match.group(group), path)
            return whole[: start - offset] + (wrap(digest) if wrap else digest) + whole[end - offset :]

        value = pattern.sub(replace, value)
    return value


def _named_secret(obj: dict[Any, Any]) -> str | None:
    """The key of a ``value`` whose sibling ``name``/``key`` names a secret (SSM, ECS env, tags)."""
    names = [
        v for k, v in obj.items() if isinstance(k, str) and k.lower() in ("name", "key", "parametername")
    ]
    if not any(isinstance(n, str) and _SECRET_NAME_RE.search(n) for n in names):
        return None
    return next((k for k in obj if isinstance(k, str) and k.lower() == "value"), None)


def _walk(obj: Any, path: str, removed: _Removed) -> Any:
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        secret_value = _named_secret(obj)
        for key, value in obj.items():
            child = f"{path}.{key}"
            if isinstance(key, str) and (is_secret_key(key) or key == secret_value):
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
                # Bounded (responder.safejson): hostile text nested ~1,000 deep is scrubbed as text.
                parsed = load_json(obj, max_bytes=_NO_SIZE_LIMIT)
            except ValueError:  # JsonLimit too
                parsed = None
            if isinstance(parsed, dict | list):
                before = len(removed)
                cleaned = _walk(parsed, path, removed)
                if len(removed) > before:
                    return json.dumps(cleaned, sort_keys=True)
                return obj
        return _scrub_text(obj, path, removed)
    return obj


def redact(obj: Any, *, key: bytes | None = None) -> tuple[Any, list[dict[str, str]]]:
    """A copy of ``obj`` with every secret replaced, and what was removed.

    Removed items are ``{"path", "sha256"}``, or ``{"path", "hmac_sha256"}`` with ``key``.
    """
    removed = _Removed(key)
    return _walk(obj, "$", removed), list(removed)


def redacted(obj: Any, *, key: bytes | None = None) -> Any:
    """The redacted copy alone."""
    return redact(obj, key=key)[0]


def redact_text(value: str, *, key: bytes | None = None, wrap: Callable[[str], str] | None = None) -> str:
    """Free text (a rendered page, a log line) with secret-looking values replaced.

    ``wrap`` encodes each placeholder for the text's format (``html.escape`` for a page: a raw
    ``<redacted ...>`` would be read as a tag and vanish).
    """
    return _scrub_text(value, "$", _Removed(key), wrap)


# Attributes every LogRecord has: anything else came from ``extra=`` and is scrubbed too.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets in the message, its args and ``extra`` fields.

    Attach it to the handlers' logger (``logger.addFilter(RedactingFilter())``); a secret logged by
    mistake then reaches CloudWatch as a digest.
    """

    def __init__(self, key: bytes | None = None, name: str = "") -> None:
        super().__init__(name)
        self._key = key

    def filter(self, record: logging.LogRecord) -> bool:
        clean: Callable[[Any], Any] = lambda v: redacted(v, key=self._key)  # noqa: E731
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg, key=self._key)
        else:
            record.msg = clean(record.msg)
        if isinstance(record.args, dict):
            record.args = clean(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(clean(a) for a in record.args)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRS:
                setattr(record, name, clean(value) if not is_secret_key(name) else clean({name: value})[name])
        return True
