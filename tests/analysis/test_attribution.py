from responder.analysis.attribution import attribution
from tests.analysis.helpers import row, stratus_rows


def _t(minute: int, second: int = 0) -> str:
    return f"2024-05-01T10:{minute:02d}:{second:02d}Z"


def test_key_checker_then_fast_sweep_then_mining_is_opportunistic():
    rows = [
        row("GetCallerIdentity", source="sts.amazonaws.com", agent="TruffleHog", time=_t(0), read_only=True)
    ]
    services = ["ec2", "iam", "s3", "lambda", "rds", "ses", "sns", "sqs"]
    for i in range(40):
        svc = services[i % len(services)]
        rows.append(
            row(
                f"Describe{svc.title()}Thing{i}",
                source=f"{svc}.amazonaws.com",
                time=_t(1, i),
                read_only=True,
                agent="Boto3/1.34 Python/3.11",
            )
        )
    rows.append(row("RunInstances", source="ec2.amazonaws.com", time=_t(2), read_only=False))
    result = attribution(rows)
    assert result["assessment"] == "opportunistic"
    text = " ".join(result["reasons"])
    assert "TruffleHog" in text
    assert "GetCallerIdentity" in text
    assert "RunInstances" in text
    assert result["signals"]["recon_per_minute"] >= 10


def test_straight_to_named_data_from_the_console_is_targeted():
    console = "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/124 Safari/537.36"
    rows = [
        row(
            "GetObject",
            params={"bucketName": "payroll", "key": "2024.xlsx"},
            agent=console,
            time=_t(0),
            read_only=True,
        ),
        row(
            "GetObject",
            params={"bucketName": "payroll", "key": "2023.xlsx"},
            agent=console,
            time=_t(4),
            read_only=True,
        ),
        row("GetBucketPolicy", params={"bucketName": "payroll"}, agent=console, time=_t(9), read_only=True),
    ]
    result = attribution(rows)
    assert result["assessment"] == "targeted"
    assert any("straight to data" in r for r in result["reasons"])
    assert any("without listing" in r for r in result["reasons"])


def test_too_little_activity_is_undetermined():
    result = attribution(stratus_rows("aws.defense-evasion.cloudtrail-stop"))
    assert result["assessment"] == "undetermined"
    assert "too little activity" in result["reasons"][0]


def test_reasons_are_sentences():
    result = attribution(stratus_rows("aws.execution.ssm-send-command"))
    assert result["reasons"]
    assert all(r[0].isupper() and r.endswith(".") for r in result["reasons"])
