"""CloudTrail log-file validation (responder/query/digest.py): the demo trail's digests verify, and
every way of tampering with the logs or the digests shows, offline, in the workflow and on S3."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws

from responder.errors import DigestKeysUnreadable
from responder.query import DuckDBEngine, QueryParams
from responder.query.digest import (
    SIDECAR_SUFFIX,
    KeyRing,
    LocalLogStore,
    PublicKey,
    data_signing_string,
    describe,
    load_public_keys,
    next_steps,
    parse_rsa_public_key,
    public_key_from_listing,
    rsa_sha256_verify,
    tampering_finding,
    validate_for_run,
    validate_logs,
)
from responder.settings import Settings
from responder.state import QueryHandle
from responder.steps.query_results import save_results
from workstation.cli import main
from workstation.demo import LogSet, default_scenario, generate_logs
from workstation.demo.account import create_evidence_bucket
from workstation.demo.digests import signing_key
from workstation.offline import investigate, summary_lines

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCENARIO = default_scenario(NOW)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> LogSet:
    root = tmp_path_factory.mktemp("trail") / "logs"
    return generate_logs(SCENARIO, root, days=3, background_per_day=20, digests=True)


@dataclass
class Trail:
    """A fresh copy of the demo trail's logs and digests for one test to tamper with."""

    root: Path
    logs: LogSet
    keys: Path

    def path(self, original: Path) -> Path:
        return self.root / original.relative_to(self.logs.root)

    @property
    def files(self) -> list[Path]:
        return [self.path(f) for f in self.logs.files]

    @property
    def digests(self) -> list[Path]:
        return [self.path(f) for f in self.logs.digest_files]

    def attack_file(self) -> Path:
        """The log file holding the attacker's PutBucketPolicy (the backdoor)."""
        for path in self.files:
            if any(r["eventName"] == "PutBucketPolicy" for r in read_records(path)):
                return path
        raise AssertionError("no PutBucketPolicy in the demo logs")

    def digest_naming(self, log: Path) -> Path:
        rel = log.relative_to(self.root).as_posix()
        for path in self.digests:
            if any(e["s3Object"] == rel for e in read_digest(path)["logFiles"]):
                return path
        raise AssertionError(f"no digest names {rel}")

    def validate(self, *paths: Path, keys: KeyRing | str | None = "file") -> dict[str, Any]:
        ring = load_public_keys(self.keys) if keys == "file" else keys
        assert not isinstance(ring, str)
        return validate_logs(
            LocalLogStore(list(paths) or [self.root]),
            self.logs.first_event_time,
            self.logs.last_event_time,
            ring,
        )


@pytest.fixture
def trail(pristine: LogSet, tmp_path: Path) -> Trail:
    root = tmp_path / "logs"
    shutil.copytree(pristine.root, root)
    keys = (
        tmp_path / "cloudtrail-public-keys.json"
    )  # outside the logs: whoever writes them must not choose it
    keys.write_text(json.dumps(pristine.public_keys))
    return Trail(root, pristine, keys)


def read_records(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(gzip.decompress(path.read_bytes()))["Records"])


def write_records(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode(), mtime=0))


def read_digest(path: Path) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress(path.read_bytes())))


def renamed(model: Path, later: timedelta, suffix: str) -> Path:
    """A CloudTrail-style file name beside ``model``, delivered ``later`` than it."""
    account, _, region, stamp, _ = model.name.split("_")
    when = datetime.strptime(stamp, "%Y%m%dT%H%MZ") + later
    return model.with_name(f"{account}_CloudTrail_{region}_{when:%Y%m%dT%H%MZ}_{suffix}.json.gz")


def issues(result: dict[str, Any], kind: str) -> list[dict[str, str]]:
    return [i for i in result["issues"] if i["kind"] == kind]


def totals(result: dict[str, Any]) -> dict[str, int]:
    """The log-file counts that are not zero."""
    return {k: v for k, v in result["log_files"].items() if v and k != "total"}


# ------------------------------------------------------------------------------------ the demo trail


def test_the_demo_trail_writes_digests_that_validate(trail: Trail) -> None:
    result = trail.validate()
    assert result["status"] == "validated"
    assert totals(result) == {"validated": len(trail.files)} and result["log_files"]["total"] == len(
        trail.files
    )
    assert result["digests"]["verified"] == result["digests"]["total"] == len(trail.digests) > 0
    assert result["issues"] == [] and result["issues_total"] == 0
    assert describe(result).startswith("log-file validation: validated")
    assert tampering_finding(result) is None and next_steps({"log_file_validation": result}) == []
    # Every digest is in CloudTrail's layout and carries its signature beside it.
    for path in trail.digests:
        doc = read_digest(path)
        assert doc["digestS3Object"] == path.relative_to(trail.root).as_posix()
        assert (
            "/CloudTrail-Digest/" in doc["digestS3Object"]
            and doc["digestSignatureAlgorithm"] == "SHA256withRSA"
        )
        assert (
            json.loads(Path(f"{path}{SIDECAR_SUFFIX}").read_text())["signature-algorithm"] == "SHA256withRSA"
        )


def test_the_digest_writer_is_reproducible(pristine: LogSet, tmp_path: Path) -> None:
    again = generate_logs(SCENARIO, tmp_path / "logs", days=3, background_per_day=20, digests=True)
    assert again.public_keys == pristine.public_keys
    first = {p.relative_to(pristine.root): p.read_bytes() for p in pristine.digest_files}
    assert first == {p.relative_to(again.root): p.read_bytes() for p in again.digest_files}


# ------------------------------------------------------------------------------- tampering, offline


def test_a_changed_record_makes_its_file_invalid(trail: Trail) -> None:
    target = trail.attack_file()
    records = read_records(target)
    for record in records:
        if record["eventName"] == "PutBucketPolicy":
            record["sourceIPAddress"] = "10.0.0.1"  # hide where the backdoor came from
    write_records(target, records)
    result = trail.validate()
    assert result["status"] == "failed"
    assert totals(result) == {"validated": len(trail.files) - 1, "invalid": 1}
    assert issues(result, "invalid") == [
        {"kind": "invalid", "file": str(target.resolve()), "reason": "content differs from its digest"}
    ]
    finding = tampering_finding(result)
    assert finding is not None and finding["severity"] == "high" and finding["tactic"] == "Defense Evasion"
    assert "1 invalid" in finding["title"]
    assert next_steps({"log_file_validation": result})[0].startswith("Treat the CloudTrail logs as tampered")


def test_a_deleted_file_is_missing(trail: Trail) -> None:
    target = trail.attack_file()
    digest = trail.digest_naming(target)
    target.unlink()
    result = trail.validate()
    assert result["status"] == "failed"
    assert totals(result) == {"validated": len(trail.files) - 1, "missing": 1}
    assert issues(result, "missing") == [
        {
            "kind": "missing",
            "file": target.relative_to(trail.root).as_posix(),
            "reason": f"listed in digest {digest.name}, absent",
        }
    ]


def test_a_planted_file_is_unvalidated(trail: Trail) -> None:
    model = trail.attack_file()
    # A forged record in a file of its own, named like CloudTrail's, delivered while digests are written.
    planted = renamed(model, timedelta(minutes=1), "PLANTEDplanted00")
    write_records(planted, read_records(model)[:1])
    result = trail.validate()
    assert result["status"] == "failed"
    assert totals(result) == {"validated": len(trail.files), "unvalidated": 1}
    assert [i["file"] for i in issues(result, "unvalidated")] == [str(planted.resolve())]


def test_a_file_newer_than_every_digest_is_not_validated_offline(trail: Trail) -> None:
    newest = max(trail.files, key=lambda p: p.name.split("_")[3])
    planted = renamed(newest, timedelta(hours=3), "PLANTEDplanted01")
    write_records(planted, read_records(newest)[:1])
    result = trail.validate()
    # Offline there is no clock to tell "not signed yet" from "planted": never "validated".
    assert result["status"] == "partial" and totals(result) == {"validated": len(trail.files), "pending": 1}


def test_a_deleted_digest_breaks_the_chain(trail: Trail) -> None:
    target = trail.digest_naming(trail.attack_file())
    named = len(read_digest(target)["logFiles"])
    target.unlink()
    Path(f"{target}{SIDECAR_SUFFIX}").unlink()
    result = trail.validate()
    assert result["status"] == "failed"
    assert result["digests"]["missing"] == 1 and result["digests"]["chain_breaks"] == 1
    assert [i["file"] for i in issues(result, "missing_digest")] == [
        target.relative_to(trail.root).as_posix()
    ]
    # The files it named are now in no digest, delivered while digests were written.
    assert totals(result) == {"validated": len(trail.files) - named, "unvalidated": named}


def test_a_digest_rewritten_to_hide_a_change_fails_its_signature(trail: Trail) -> None:
    target = trail.attack_file()
    records = read_records(target)
    write_records(target, records[1:])  # a record removed ...
    digest = trail.digest_naming(target)
    doc = read_digest(digest)
    rel = target.relative_to(trail.root).as_posix()
    for entry in doc["logFiles"]:
        if entry["s3Object"] == rel:  # ... and the digest made to agree
            import hashlib

            entry["hashValue"] = hashlib.sha256(gzip.decompress(target.read_bytes())).hexdigest()
    digest.write_bytes(gzip.compress(json.dumps(doc).encode(), mtime=0))
    result = trail.validate()
    assert result["status"] == "failed" and result["digests"]["invalid"] == 1
    [bad] = issues(result, "invalid_digest")
    assert bad["file"] == str(digest.resolve()) and "signature does not verify" in bad["reason"]
    named = len(doc["logFiles"])
    assert totals(result) == {"validated": len(trail.files) - named, "unvalidated": named}


def test_a_digest_re_signed_with_another_key_breaks_the_chain(trail: Trail) -> None:
    target = trail.digest_naming(trail.attack_file())
    doc = read_digest(target)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    doc["digestPublicKeyFingerprint"] = "00" * 16
    inflated = json.dumps(doc).encode()
    signature = forger.sign(data_signing_string(doc, inflated), padding.PKCS1v15(), hashes.SHA256()).hex()
    target.write_bytes(gzip.compress(inflated, mtime=0))
    Path(f"{target}{SIDECAR_SUFFIX}").write_text(
        json.dumps({"signature": signature, "signature-algorithm": "SHA256withRSA"})
    )
    result = trail.validate()
    # A key file is not CloudTrail's authoritative list: the digest itself is only unverified, but the
    # next digest signed the old signature, so the chain shows the replacement.
    assert result["digests"]["unverified"] == 1 and result["digests"]["chain_breaks"] == 1
    assert result["status"] == "failed"
    assert [i["file"] for i in issues(result, "chain_break")] == [str(target.resolve())]


def test_without_keys_or_signatures_nothing_is_called_validated(trail: Trail) -> None:
    result = trail.validate(keys=None)
    assert result["status"] == "partial" and result["public_keys"] == "none"
    assert result["digests"]["unverified"] == result["digests"]["total"]
    assert totals(result) == {"unverified": len(trail.files)}
    for sidecar in trail.root.rglob(f"*{SIDECAR_SUFFIX}"):
        sidecar.unlink()  # what `aws s3 cp` of the bucket leaves
    result = trail.validate()
    assert result["status"] == "partial" and result["digests"]["unverified"] == result["digests"]["total"]
    assert totals(result) == {"unverified": len(trail.files)}
    assert next_steps({"log_file_validation": result})[0].startswith("Log files could not all be validated")


def test_a_signature_kept_as_head_object_output_verifies(trail: Trail) -> None:
    """`aws s3api head-object --bucket B --key K > K.sig.json` is the sidecar the runbook makes."""
    for path in trail.digests:
        sidecar = Path(f"{path}{SIDECAR_SUFFIX}")
        metadata = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({"ContentLength": path.stat().st_size, "Metadata": metadata}))
    assert trail.validate()["status"] == "validated"


def test_a_digest_naming_files_outside_the_copy_opens_none_of_them(trail: Trail, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.json.gz"
    write_records(secret, [])
    store = LocalLogStore([trail.root])
    for key in ("AWSLogs/../elsewhere.json.gz", "AWSLogs/../../elsewhere.json.gz", "x/AWSLogs//a"):
        assert store.log_by_key("b", key) is None and store.digest_by_key("b", key) is None


def test_a_digest_nested_too_deep_is_invalid_not_a_crash(trail: Trail) -> None:
    target = trail.digests[0]
    target.write_bytes(gzip.compress(b'{"a":' * 100_000 + b"1" + b"}" * 100_000))
    result = trail.validate()
    assert result["status"] == "failed"
    assert issues(result, "invalid_digest")[0]["reason"] == "not a gzipped JSON digest"


def test_a_trail_without_digests_is_not_enabled(trail: Trail) -> None:
    shutil.rmtree(trail.root / "AWSLogs" / SCENARIO.account_id / "CloudTrail-Digest")
    result = trail.validate()
    assert result["status"] == "not_enabled" and totals(result) == {"uncovered": len(trail.files)}
    assert next_steps({"log_file_validation": result})[0].startswith("Turn on log-file validation")


def test_only_the_folders_given_are_checked(trail: Trail) -> None:
    target = trail.attack_file()
    region = target.relative_to(trail.root).parts[3]
    region_dir = trail.root / "AWSLogs" / SCENARIO.account_id / "CloudTrail" / region
    in_region = [f for f in trail.files if region_dir in f.parents]
    assert len(in_region) < len(trail.files), "the demo logs more than one region"
    result = trail.validate(region_dir)
    assert result["status"] == "validated" and totals(result) == {"validated": len(in_region)}


def test_a_gzip_bomb_in_place_of_a_log_is_invalid_not_read_whole(
    trail: Trail, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("responder.query.digest.MAX_LOG_BYTES", 1 << 20)
    target = trail.attack_file()
    target.write_bytes(gzip.compress(b" " * (4 << 20)))
    result = trail.validate()
    [bad] = issues(result, "invalid")
    assert bad["file"] == str(target.resolve()) and "decompresses past" in bad["reason"]


# ------------------------------------------------------------------------------------------- RSA


def test_rsa_verification_agrees_with_cryptography() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    message = b"2026-03-01T12:01:31Z\nbucket/AWSLogs/x\nabc\nnull"
    signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    for fmt in (serialization.PublicFormat.PKCS1, serialization.PublicFormat.SubjectPublicKeyInfo):
        n, e = parse_rsa_public_key(public.public_bytes(serialization.Encoding.DER, fmt))
        assert (n, e) == (public.public_numbers().n, 65537)
        assert rsa_sha256_verify(n, e, message, signature)
        assert not rsa_sha256_verify(n, e, message + b"x", signature)
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        assert not rsa_sha256_verify(n, e, message, flipped)
        assert not rsa_sha256_verify(n, e, message, signature[1:])
    # Another hash in the same padding is not SHA-256's signature.
    other = private.sign(message, padding.PKCS1v15(), hashes.SHA512())
    assert not rsa_sha256_verify(public.public_numbers().n, 65537, message, other)


def test_weak_or_malformed_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    with pytest.raises(ValueError, match="too weak"):
        parse_rsa_public_key(weak.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1))
    for junk in (b"", b"\x30\x05\x02\x01\x01", b"\x02\x01\x01", b"\x30\x84\xff\xff\xff\xff"):
        with pytest.raises(ValueError):
            parse_rsa_public_key(junk)


def test_the_demo_key_listing_reads_as_list_public_keys_prints_it(pristine: LogSet) -> None:
    [item] = pristine.public_keys["PublicKeyList"]
    from_cli = public_key_from_listing(item)  # Value in base64, as the AWS CLI prints it
    key = signing_key(0)
    from_boto3 = public_key_from_listing({**item, "Value": key.der})  # bytes, as boto3 returns it
    assert isinstance(from_cli, PublicKey) and from_cli == from_boto3
    assert from_cli.fingerprint == key.fingerprint and from_cli.valid_from is not None


def test_a_bad_public_keys_file_is_a_named_error_and_exit_2(trail: Trail, tmp_path: Path) -> None:
    bad = tmp_path / "keys.json"
    for text in ("not json", "[]", json.dumps({"PublicKeyList": [{"Fingerprint": "ab", "Value": "AAAA"}]})):
        bad.write_text(text)
        with pytest.raises(DigestKeysUnreadable):
            load_public_keys(bad)
    code = main(
        ["investigate", "--logs", str(trail.root), "--access-key", SCENARIO.exposed_key_id,
         "--out", str(tmp_path / "out"), "--digest-public-keys", str(bad)]
    )  # fmt: skip
    assert code == 2 and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------- the investigation


def test_investigate_reports_validation_in_coverage_cli_and_report(
    trail: Trail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = SCENARIO.exposed_key_id
    out = tmp_path / "clean"
    code = main(["investigate", "--logs", str(trail.root), "--access-key", key, "--out", str(out),
                 "--digest-public-keys", str(trail.keys)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    validation = report["coverage"]["log_file_validation"]
    assert validation["status"] == "validated" and describe(validation) in printed
    assert describe(validation) in (out / "report.md").read_text()
    assert describe(validation) in (out / "report.html").read_text()
    assert not [f for f in report["findings"] if f["title"].startswith("CloudTrail log files failed")]

    target = trail.attack_file()
    write_records(target, read_records(target)[1:])
    report = investigate([trail.root], key, digest_public_keys=trail.keys, out_dir=tmp_path / "tampered")
    validation = report["coverage"]["log_file_validation"]
    assert validation["status"] == "failed" and validation["log_files"]["invalid"] == 1
    [finding] = [f for f in report["findings"] if f["title"].startswith("CloudTrail log files failed")]
    expected = tampering_finding(validation)
    assert expected is not None and (finding["title"], finding["severity"]) == (expected["title"], "high")
    assert any(s.startswith("Treat the CloudTrail logs as tampered") for s in report["summary"]["next_steps"])
    assert describe(validation) in summary_lines(report)
    markdown = (tmp_path / "tampered" / "report.md").read_text()
    assert "log-file validation: failed" in markdown and str(target) not in markdown  # counts, not names


def test_the_workflow_keeps_validation_beside_the_coverage(trail: Trail, aws_env: None) -> None:
    """QueryResults on the DuckDB engine (the local runner's): coverage.log_file_validation in the
    saved meta and in the step's output."""
    settings = Settings(
        query_engine="duckdb", local_log_paths=(str(trail.root),), digest_public_keys=str(trail.keys)
    )
    window = {"start": iso(trail.logs.first_event_time), "end": iso(trail.logs.last_event_time)}
    engine = DuckDBEngine(trail.files)
    params = QueryParams.of({"access_key_id": SCENARIO.exposed_key_id, **window})
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        create_evidence_bucket(s3, "evidence")
        handle = QueryHandle(
            incident_id="inc-1", execution_id="exec-1", access_key_id=SCENARIO.exposed_key_id,
            name="key_activity", window=window, coverage=True, engine="duckdb",
            query_id=engine.start("key_activity", params), state="FINISHED", wait_seconds=0,
        )  # fmt: skip
        result = save_results(
            s3, "evidence", engine, handle,
            log_validation=lambda p: validate_for_run(settings, p.window_start, p.window_end, now=NOW),
        )  # fmt: skip
        meta = json.loads(
            s3.get_object(Bucket="evidence", Key=result.evidence[1].uri.split("/", 3)[3])["Body"].read()
        )
    saved = meta["coverage"]["log_file_validation"]
    assert saved["status"] == "validated" and saved["issues"] == []
    # The state carries the counts; the file names stay in evidence (the state is capped at 256 KB).
    assert result.coverage["log_file_validation"] == {k: v for k, v in saved.items() if k != "issues"}
    assert validate_for_run(Settings(query_engine="lake"), NOW, NOW) is None  # Lake keeps no digests


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------- Athena: the S3 bucket


@pytest.fixture
def bucket(trail: Trail, aws_env: None) -> Iterator[Any]:
    """The demo trail in its S3 bucket on moto, each digest's signature in its object metadata."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=SCENARIO.trail_bucket)
        for path in trail.files:
            s3.put_object(
                Bucket=SCENARIO.trail_bucket,
                Key=path.relative_to(trail.root).as_posix(),
                Body=path.read_bytes(),
            )
        for path in trail.digests:
            metadata = json.loads(Path(f"{path}{SIDECAR_SUFFIX}").read_text())
            s3.put_object(
                Bucket=SCENARIO.trail_bucket, Key=path.relative_to(trail.root).as_posix(),
                Body=path.read_bytes(), Metadata=metadata,
            )  # fmt: skip
        yield s3


def _stubbed_cloudtrail(regions: list[str], fingerprint: str | None = None) -> tuple[Any, Stubber]:
    """cloudtrail:ListPublicKeys with its real response shape (moto does not hold CloudTrail's keys)."""
    client = boto3.client("cloudtrail", region_name="us-east-1")
    stub = Stubber(client)
    key = signing_key(0)
    for _ in sorted(regions):
        stub.add_response(
            "list_public_keys",
            {
                "PublicKeyList": [
                    {
                        "Value": key.der,
                        "ValidityStartTime": NOW - timedelta(days=30),
                        "ValidityEndTime": NOW + timedelta(days=30),
                        "Fingerprint": fingerprint or key.fingerprint,
                    }
                ]
            },
            {"StartTime": ANY, "EndTime": ANY},
        )
    stub.activate()
    return client, stub


def _athena_settings() -> Settings:
    return Settings(
        query_engine="athena", cloudtrail_bucket=SCENARIO.trail_bucket, trail_accounts=(SCENARIO.account_id,)
    )


def _regions(trail: Trail) -> list[str]:
    return sorted({p.relative_to(trail.root).parts[3] for p in trail.digests})


def test_athena_runs_validate_the_trail_bucket(trail: Trail, bucket: Any) -> None:
    cloudtrail, stub = _stubbed_cloudtrail(_regions(trail))
    result = validate_for_run(
        _athena_settings(), trail.logs.first_event_time, trail.logs.last_event_time,
        s3=bucket, cloudtrail_for_region=lambda region: cloudtrail, now=NOW,
    )  # fmt: skip
    stub.assert_no_pending_responses()
    assert result is not None
    assert result["status"] == "validated", result["issues"]
    assert result["source"] == f"s3://{SCENARIO.trail_bucket}/AWSLogs/"
    assert totals(result) == {"validated": len(trail.files)}
    assert result["public_keys"] == "cloudtrail:ListPublicKeys"

    target = trail.attack_file().relative_to(trail.root).as_posix()
    body = read_records(trail.attack_file())[1:]
    bucket.put_object(
        Bucket=SCENARIO.trail_bucket, Key=target, Body=gzip.compress(json.dumps({"Records": body}).encode())
    )
    cloudtrail, _ = _stubbed_cloudtrail(_regions(trail))
    result = validate_for_run(
        _athena_settings(), trail.logs.first_event_time, trail.logs.last_event_time,
        s3=bucket, cloudtrail_for_region=lambda region: cloudtrail, now=NOW,
    )  # fmt: skip
    assert result is not None and result["status"] == "failed"
    assert [i["file"] for i in issues(result, "invalid")] == [f"s3://{SCENARIO.trail_bucket}/{target}"]


def test_on_s3_a_digest_under_a_key_cloudtrail_does_not_list_is_invalid(trail: Trail, bucket: Any) -> None:
    # ListPublicKeys is CloudTrail's own word for the region: any other fingerprint is a forgery.
    cloudtrail, _ = _stubbed_cloudtrail(_regions(trail), fingerprint="ff" * 16)
    result = validate_for_run(
        _athena_settings(), trail.logs.first_event_time, trail.logs.last_event_time,
        s3=bucket, cloudtrail_for_region=lambda region: cloudtrail, now=NOW,
    )  # fmt: skip
    assert result is not None and result["status"] == "failed"
    assert result["digests"]["invalid"] == result["digests"]["total"]
    assert "which CloudTrail does not list" in issues(result, "invalid_digest")[0]["reason"]


def test_on_s3_a_digest_without_its_metadata_is_invalid(trail: Trail, bucket: Any) -> None:
    target = trail.digest_naming(trail.attack_file())
    key = target.relative_to(trail.root).as_posix()
    bucket.put_object(Bucket=SCENARIO.trail_bucket, Key=key, Body=target.read_bytes())  # metadata dropped
    cloudtrail, _ = _stubbed_cloudtrail(_regions(trail))
    result = validate_for_run(
        _athena_settings(), trail.logs.first_event_time, trail.logs.last_event_time,
        s3=bucket, cloudtrail_for_region=lambda region: cloudtrail, now=NOW,
    )  # fmt: skip
    assert result is not None and result["status"] == "failed"
    assert issues(result, "invalid_digest") == [
        {
            "kind": "invalid_digest",
            "file": f"s3://{SCENARIO.trail_bucket}/{key}",
            "reason": "no signature in its metadata",
        }
    ]


def test_an_unreadable_trail_bucket_is_an_error_status_not_a_failed_step(trail: Trail, aws_env: None) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")  # no such bucket
        result = validate_for_run(_athena_settings(), NOW - timedelta(days=1), NOW, s3=s3, now=NOW)
    assert result == {"status": "error", "error": "NoSuchBucket"}
    assert describe(result) == "log-file validation: could not run (NoSuchBucket)"
    unset = validate_for_run(Settings(query_engine="athena"), NOW, NOW, s3=object())
    assert unset is not None and unset["status"] == "error" and "CLOUDTRAIL_BUCKET" in unset["error"]


def test_the_demo_workflow_reports_its_trail_validated(tmp_path: Path) -> None:
    """`responder demo`: the emulated trail validates its files, and the workflow's report says so."""
    from workstation.demo.run import PUBLIC_KEYS_FILE, DemoHooks, run_demo

    hooks = DemoHooks(environment={"POLL_SECONDS": "0"}, retry_interval_scale=0.0)
    result = run_demo(tmp_path, scenario="iam-user-key", narrate=lambda line: None, hooks=hooks)
    assert result.status == "SUCCEEDED" and (tmp_path / PUBLIC_KEYS_FILE).is_file()
    report = json.loads((tmp_path / "report.json").read_text())
    validation = report["coverage"]["log_file_validation"]
    files = sorted((tmp_path / "logs").rglob("*_CloudTrail_*.json.gz"))
    assert validation["status"] == "validated" and validation["log_files"]["validated"] > 0
    assert validation["log_files"]["validated"] == validation["log_files"]["total"] <= len(files)
    assert describe(validation) in (tmp_path / "report.md").read_text()
