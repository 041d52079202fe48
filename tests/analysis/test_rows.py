import json

from responder.analysis.rows import (
    doc,
    event_name,
    is_read,
    malformed_records,
    not_read_lines,
    parse_time,
    record_to_row,
    sort_rows,
    with_malformed,
)
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


def _deep(levels: int) -> dict:
    value: dict = {"leaf": "x"}
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_record_nested_too_deep_becomes_a_row_with_its_document_marked_not_a_recursion_error():
    # LookupEvents' CloudTrailEvent parsed into objects: 2,000 levels would stop json.dumps.
    record = {"eventID": "e1", "eventName": "PutBucketTagging", "requestParameters": _deep(2000)}
    row_ = record_to_row(record)
    assert row_["event_id"] == "e1" and row_["request_parameters"] is None
    mark = json.loads(str(row_["malformed"]))["request_parameters"]
    assert mark["reason"] == "nested deeper than 64 levels"
    found = malformed_records([row_])
    assert found["unreadable"] == 1 and found["records"][0]["event_id"] == "e1"


def test_doc_reads_hostile_text_within_limits():
    deep = '{"a":' * 1000 + "1" + "}" * 1000
    assert doc({"request_parameters": deep}, "request_parameters") is None
    # A duplicated key: the first value, as DuckDB's JSON functions read it (json.loads takes the last).
    assert doc({"request_parameters": '{"k":"first","k":"last"}'}, "request_parameters") == {"k": "first"}


def test_times_with_offsets_are_instants():
    assert parse_time("2024-05-01T02:00:00+02:00") == parse_time("2024-05-01T00:00:00Z")
    from responder.query.rows import iso_time

    assert iso_time("2024-05-01T02:00:00+02:00") == "2024-05-01T00:00:00Z"
    assert iso_time("2024-05-01T02:00:00.5-01:30") == "2024-05-01T03:30:00Z"
    assert iso_time("garbage") == "garbage"


def test_with_malformed_adds_counts_only_when_there_is_something_to_say():
    assert with_malformed({"status": "covered"}, [row("ListBuckets")]) == {"status": "covered"}
    marked = {
        **row("PutBucketTagging"),
        "malformed": json.dumps({"request_parameters": {"reason": "r", "raw": "{"}}),
    }
    cov = with_malformed({"status": "covered"}, [marked])
    assert (cov["unreadable_records"], cov["duplicate_key_records"]) == (1, 0)
    assert not_read_lines(cov) == [
        "1 record(s) of the key hold a document too deep or too large to read: not analysed "
        "(the raw text is in the query results)"
    ]
