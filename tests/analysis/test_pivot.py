"""Which credentials the investigation follows: long-term keys before sessions, nothing dropped silently."""

from __future__ import annotations

from typing import Any

from responder.analysis.pivot import MAX_CREDENTIALS, next_batch, plan_credentials, report_credentials
from responder.next_steps import credential_kind, credential_steps, listed
from responder.report import build_report, render_markdown
from responder.report_html import render_html
from tests.analysis.helpers import KEY

WINDOW = {"window_start": "2024-05-01T00:00:00Z", "window_end": "2024-05-08T00:00:00Z"}


def _session(i: int) -> str:
    return f"ASIASESSION{i:09d}"


def _minted(
    key: str, event: str, when: str, for_whom: str = "arn:aws:iam::111122223333:user/dev"
) -> dict[str, Any]:
    return {
        "event_time": when,
        "event_name": event,
        "minted_access_key_id": key,
        "minted_for": for_whom,
        "source_ip": "185.220.101.47",
        "event_id": f"evt-{key}",
        "access_key_id": KEY,
    }


def _results(sessions: int, created: list[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The exposed key minted ``sessions`` session tokens first, then created ``created`` keys."""
    rows = [_minted(_session(i), "GetSessionToken", f"2024-05-01T10:{i:02d}:00Z") for i in range(sessions)]
    rows += [
        _minted(k, "CreateAccessKey", f"2024-05-01T11:{i:02d}:00Z", "backdoor") for i, k in enumerate(created)
    ]
    return {(KEY, "minted_credentials"): rows, (KEY, "key_activity"): [{"event_name": "GetSessionToken"}]}


def test_keys_the_attacker_created_are_followed_before_sessions_and_the_rest_is_listed():
    backdoor = "AKIABACKDOOR00000001"
    followed, rest = plan_credentials(KEY, _results(20, [backdoor]))
    assert len(followed) == MAX_CREDENTIALS
    assert followed[1].access_key_id == backdoor and followed[1].relation == "created"
    assert len(rest) == 20 - (MAX_CREDENTIALS - 2)
    assert {c.access_key_id for c in followed + rest} == {KEY, backdoor, *(_session(i) for i in range(20))}
    assert all(c.relation == "derived" for c in rest)
    assert {q.access_key_id for q in next_batch(KEY, _results(20, [backdoor]))} == {
        c.access_key_id for c in followed
    }


def test_what_an_earlier_round_followed_stays_followed():
    results = _results(MAX_CREDENTIALS - 1, [])
    first, _ = plan_credentials(KEY, results)
    for cred in first[1:]:
        results[(cred.access_key_id, "key_activity")] = []
        results[(cred.access_key_id, "minted_credentials")] = []
    # A session of round one created a key: long-term, but the limit is full of what already ran.
    late = "AKIALATEKEY000000001"
    results[(first[1].access_key_id, "minted_credentials")] = [
        _minted(late, "CreateAccessKey", "2024-05-02T00:00:00Z")
    ]
    second, rest = plan_credentials(KEY, results)
    assert [c.access_key_id for c in second] == [c.access_key_id for c in first]
    assert [c.access_key_id for c in rest] == [late]


def test_the_report_names_what_was_not_investigated_and_every_short_list_says_how_many_more():
    backdoor = "AKIABACKDOOR00000001"
    creds = report_credentials(KEY, _results(20, [backdoor]))
    skipped = [c for c in creds if c["investigated"] is False]
    assert len(skipped) == 10 and all(c["event_count"] == 0 for c in skipped)
    report = build_report([], access_key_id=KEY, credentials=creds, **WINDOW)
    steps = report["summary"]["next_steps"]
    (follow,) = [s for s in steps if s.startswith("Investigate the credentials the run did not follow")]
    assert skipped[0]["access_key_id"] in follow and "and 0 more" not in follow
    (revoke,) = [s for s in steps if s.startswith("Revoke the sessions")]
    assert "and 15 more" in revoke, "every session minted is to be revoked, followed or not: 5 named"
    assert backdoor in " ".join(steps), "the created key is named for deactivation"
    markdown, page = render_markdown(report), render_html(report)
    assert "## Credentials" in markdown and markdown.count("not investigated (limit reached)") == 10
    assert 'id="credentials"' in page and page.count("not investigated (limit reached)") == 10


def test_same_ip_credentials_are_shown_in_the_report():
    results = _results(1, [])
    results[(KEY, "same_ip_credentials")] = [
        {"access_key_id": "AKIAOTHERKEY00000001", "source_ip": "185.220.101.47", "event_count": 4}
    ]
    report = build_report([], access_key_id=KEY, credentials=report_credentials(KEY, results), **WINDOW)
    markdown = render_markdown(report)
    assert "Other access keys used from the key's source addresses" in markdown
    assert "`AKIAOTHERKEY00000001`" in markdown and "`185.220.101.47`" in markdown


def test_listed():
    assert listed(["a", "b"]) == "a, b"
    assert listed([str(i) for i in range(8)], 5) == "0, 1, 2, 3, 4 and 3 more"


def test_what_to_do_about_the_credential_depends_on_its_kind():
    def steps(key: str, principal: str | None, error: str | None, **done: bool) -> str:
        kind = credential_kind(key, principal, error)
        flags = {"disabled": False, "sessions_revoked": False, **done}
        return " ".join(credential_steps(kind, key, incident_id="inc-1", **flags))

    root = steps("AKIAROOTKEY000000001", "Root", None)
    assert "No API can disable a root key" in root and "Deactivate" not in root
    assert "another AWS account" in steps(KEY, "IAMUser", "ForeignAccessKey")
    deleted = steps(KEY, "IAMUser", "AccessKeyNotFound")
    assert "no longer exists" in deleted and "Deactivate" not in deleted
    session = steps("ASIASESSION000000001", "AssumedRole", None, sessions_revoked=True)
    assert "cannot be deactivated" in session and "are revoked" in session
    assert "revoke its role's sessions now" in steps("ASIASESSION000000001", "AssumedRole", None)
    assert "is disabled" in steps(KEY, "IAMUser", None, disabled=True)
    assert steps(KEY, "IAMUser", None).startswith("Deactivate, then rotate")


def test_the_signal_s_other_keys_are_investigated_as_exposed_keys_and_what_they_minted_followed():
    """An attack sequence names two keys: the second gets every query the first does, then its pivots."""
    second = "AKIASEQUENCEKEY00002"
    from responder.query.sql import QUERY_NAMES

    first_round = next_batch(KEY, {}, seeds=[second, second, "not-a-key"])
    assert {(q.access_key_id, q.name) for q in first_round} == {
        (k, n) for k in (KEY, second) for n in QUERY_NAMES
    }
    results = {q.key: [] for q in first_round}
    results[(second, "minted_credentials")] = [
        {**_minted(_session(1), "GetSessionToken", "2024-05-01T12:00:00Z"), "access_key_id": second}
    ]
    followed, _ = plan_credentials(KEY, results, seeds=[second])
    assert [(c.access_key_id, c.relation, c.parent) for c in followed] == [
        (KEY, "exposed", None),
        (second, "exposed", None),
        (_session(1), "derived", second),
    ]
    creds = report_credentials(KEY, results, seeds=[second])
    assert [c["access_key_id"] for c in creds if c["relation"] == "exposed"] == [KEY, second]
