import json

from responder.analysis.rows import doc, event_name, is_read, parse_time, record_to_row, sort_rows
from tests.analysis.helpers import row, stratus_records


def test_record_to_row_maps_the_contract_keys_and_keeps_json_as_text():
    record = stratus_records("aws.persistence.sts-federation-token")[1]
    mapped = record_to_row(record)
    assert mapped["event_name"] == "GetCallerIdentity"
    assert mapped["access_key_id"] == "ASIASTJKC5GCM7ZE6LUP"
    # A federated user has no userName of its own: the session issuer's is used.
    assert mapped["user_name"] == "stratus-red-team-user-federation-user"
    assert mapped["read_only"] == "true"
    assert mapped["account_id"] == "742491224508"
    assert mapped["request_parameters"] is None


def test_json_sub_documents_are_text_and_parse_back():
    record = stratus_records("aws.persistence.iam-backdoor-user")[0]
    mapped = record_to_row(record)
    assert isinstance(mapped["response_elements"], str)
    assert doc(mapped, "response_elements")["accessKey"]["accessKeyId"] == "AKIAL80DWDVKKM0UXEER"


def test_readers_tolerate_engine_differences():
    r = dict(row("GetObject"))
    r["read_only"] = True  # an engine that returns booleans
    r["request_parameters"] = {"bucketName": "b"}  # or dicts
    assert is_read(r)
    assert doc(r, "request_parameters") == {"bucketName": "b"}
    r["request_parameters"] = "{not json"
    assert doc(r, "request_parameters") is None
    assert parse_time("2024-05-01 10:00:00").isoformat() == "2024-05-01T10:00:00+00:00"
    assert parse_time("garbage") is None


def test_lambda_version_suffix_is_dropped_and_duplicates_are_removed():
    r = row("UpdateFunctionCode20150331v2", source="lambda.amazonaws.com")
    assert event_name(r) == "UpdateFunctionCode"
    later = row("ListBuckets", time="2024-05-01T11:00:00Z")
    ordered = sort_rows([later, r, dict(r)])
    assert [x["event_name"] for x in ordered] == ["UpdateFunctionCode20150331v2", "ListBuckets"]
    assert json.dumps(ordered)  # still JSON-able
