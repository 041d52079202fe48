"""IAM and bucket policy documents as AWS returns them: decoded and compared canonically. Low floor."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote


def decode_policy(document: Any) -> Any:
    """boto3 returns policy documents decoded; a raw (URL-encoded JSON) string is decoded here too."""
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document


def canonical(document: Any) -> str:
    """One JSON text per document (sorted keys, no spaces): how recorded and live documents are compared."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
