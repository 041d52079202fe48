"""What a person must do about the exposed credential itself, by the kind of credential it is.

One answer for the report ("What you must do now") and the SOC message ("What a human must do now"),
so they cannot disagree: a root key cannot be disabled by any API, a deleted key does not exist, a
role session's key cannot be deactivated (its sessions are revoked instead), another account's key is
that account's to act on, and an IAM user's key is rotated once it is disabled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

CredentialKind = Literal["root", "foreign", "deleted", "session", "user_key"]


def listed(values: Sequence[str], shown: int = 5) -> str:
    """``a, b, c and 4 more``: a shortened list always says how many it left out."""
    head = ", ".join(values[:shown])
    rest = len(values) - shown
    return f"{head} and {rest} more" if rest > 0 else head


def credential_kind(
    access_key_id: str, principal_type: str | None, validation_error: str | None
) -> CredentialKind:
    """The kind of credential, from the principal's type, Validate's error name and the key's prefix."""
    if (principal_type or "") == "Root":
        return "root"
    if validation_error == "ForeignAccessKey":
        return "foreign"
    if validation_error == "AccessKeyNotFound":
        return "deleted"
    if access_key_id.startswith("ASIA"):
        return "session"
    return "user_key"


def credential_steps(
    kind: CredentialKind, access_key_id: str, *, disabled: bool, sessions_revoked: bool, incident_id: str
) -> list[str]:
    """The steps about the credential, given what the workflow did (``disabled``, ``sessions_revoked``)."""
    key = access_key_id
    if kind == "root":
        return [
            f"Sign in as the root user (with its MFA device) and delete the root access key {key}: IAM console"
            " > Security credentials > Access keys. No API can disable a root key, so it is still active.",
            "Change the root password and check the MFA device; look for new IAM users, roles and keys.",
        ]
    if kind == "foreign":
        return [
            f"Access key {key} belongs to another AWS account: send the key id to that account's security"
            " contact (AWS Trust & Safety if it is not yours to reach). Nothing was changed here.",
        ]
    if kind == "deleted":
        return [
            f"Access key {key} no longer exists, so there is nothing to disable: find who deleted it and when"
            " (DeleteAccessKey in CloudTrail), and review what it did while it existed.",
        ]
    if kind == "session":
        revoke = (
            "its role's sessions issued before containment are revoked"
            if sessions_revoked
            else "revoke its role's sessions now (deny on aws:TokenIssueTime for the role)"
        )
        return [
            f"Session key {key} cannot be deactivated (it expires on its own): {revoke}; find where the"
            " session's credentials leaked (an instance's metadata, a function's environment, a CI runner)"
            " and fix that source.",
        ]
    if disabled:
        return [
            f"Access key {key} is disabled: delete it once evidence is preserved, give its owner a replacement"
            " (or a role), and find where it leaked (repository, CI log, image, laptop).",
            f"Once the owner has rotated: `responder recover --incident {incident_id} --dry-run` lists every"
            f" change with its ID; `--target {key}` gives back only this key (the attacker's keys stay"
            " disabled, the backdoors removed).",
        ]
    return [f"Deactivate, then rotate access key {key} now, and find where it leaked: it is still active."]
