import json

from responder.redact import REDACTED_PREFIX, redact, sha256_text
from tests.analysis.helpers import stratus_records

TOKEN = "IQoJb3JpZ2luX2VjEOH//////////wEaCXVzLWVhc3QtMSJIMEYCIQDzpomGZAmkp4RIzBo4RqVJGEmUNjyA7lHyt1aKfFh8Iw=="
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_secret_keys_are_replaced_and_listed_with_their_digest():
    obj = {
        "credentials": {"accessKeyId": "ASIAEXAMPLE", "sessionToken": TOKEN, "secretAccessKey": SECRET},
        "loginProfile": {"password": "hunter2", "passwordResetRequired": False},
        "changePassword": {"oldPassword": "a", "newPassword": "b"},
        "nextToken": "page-2",
        "clientToken": "idem-1",
    }
    clean, removed = redact(obj)
    assert clean["credentials"]["accessKeyId"] == "ASIAEXAMPLE"
    assert clean["credentials"]["sessionToken"] == f"{REDACTED_PREFIX}{sha256_text(TOKEN)}>"
    assert clean["loginProfile"]["passwordResetRequired"] is False  # flags stay
    assert clean["nextToken"] == "page-2" and clean["clientToken"] == "idem-1"
    assert {r["path"] for r in removed} == {
        "$.credentials.sessionToken",
        "$.credentials.secretAccessKey",
        "$.loginProfile.password",
        "$.changePassword.oldPassword",
        "$.changePassword.newPassword",
    }
    dumped = json.dumps(clean)
    for secret in (TOKEN, SECRET, "hunter2"):
        assert secret not in dumped
    assert obj["credentials"]["sessionToken"] == TOKEN  # the input is not modified


def test_secret_looking_values_anywhere_and_inside_json_text():
    obj = {
        "commands": [f"export AWS_SECRET_ACCESS_KEY={SECRET} && aws s3 ls"],
        "response_elements": json.dumps({"credentials": {"sessionToken": TOKEN}}),
        "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc\n-----END RSA PRIVATE KEY-----",
        "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",  # lower-case hex: not a secret key
        "event_id": "6e882b9d-2af8-4c67-b91f-aeac6a0e5e70",
    }
    clean, removed = redact(obj)
    dumped = json.dumps(clean)
    assert SECRET not in dumped and TOKEN not in dumped and "MIIEabc" not in dumped
    assert clean["sha1"] == obj["sha1"] and clean["event_id"] == obj["event_id"]
    assert json.loads(clean["response_elements"])["credentials"]["sessionToken"].startswith(REDACTED_PREFIX)
    assert len(removed) == 3


def test_redaction_is_idempotent():
    once, _ = redact({"sessionToken": TOKEN})
    twice, removed = redact(once)
    assert twice == once and removed == []


def test_stratus_federation_token_record_is_clean_after_redaction():
    record = stratus_records("aws.persistence.sts-federation-token")[0]
    token = record["responseElements"]["credentials"]["sessionToken"]
    clean, removed = redact(record)
    assert token not in json.dumps(clean)
    assert removed == [{"path": "$.responseElements.credentials.sessionToken", "sha256": sha256_text(token)}]
