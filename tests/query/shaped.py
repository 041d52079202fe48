"""DuckDB tables shaped like CloudTrail Lake's and Athena's CloudTrail tables, over the same events.

They let the exact text sent to Lake and Athena run locally (transpiled by sqlglot), to prove the same
named query gives the same rows on every engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from responder.query.logs import select_files


def load_events(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in select_files(paths):
        doc = json.loads(f.read_text())
        out.extend(doc["Records"] if isinstance(doc, dict) else doc)
    return out


_IDENTITY = (
    '{"type":"VARCHAR","principalId":"VARCHAR","arn":"VARCHAR","accountId":"VARCHAR","accessKeyId":"VARCHAR",'
    '"userName":"VARCHAR","sessionContext":{"sessionIssuer":{"userName":"VARCHAR"}}}'
)


def shaped_connection(events: list[dict[str, Any]]) -> duckdb.DuckDBPyConnection:
    """``lake_eds`` (Lake's shape) and ``cloudtrail."cloudtrail_logs"`` (the Athena DDL's shape)."""
    conn = duckdb.connect()
    conn.execute("CREATE TABLE raw (j JSON)")
    conn.executemany("INSERT INTO raw VALUES (?)", [[json.dumps(e)] for e in events])
    common = f"""
        j->>'$.eventSource' AS eventsource, j->>'$.eventName' AS eventname, j->>'$.awsRegion' AS awsregion,
        j->>'$.sourceIPAddress' AS sourceipaddress, j->>'$.userAgent' AS useragent,
        j->>'$.errorCode' AS errorcode, j->>'$.errorMessage' AS errormessage,
        j->>'$.recipientAccountId' AS recipientaccountid, j->>'$.eventType' AS eventtype,
        json_transform(j->'$.userIdentity', '{_IDENTITY}') AS useridentity
    """
    # Lake: eventTime a timestamp, maps of strings for the documents, the whole event in eventJson.
    conn.execute(f"""
        CREATE TABLE lake_eds AS SELECT
            j->>'$.eventID' AS eventid,
            strptime(j->>'$.eventTime', '%Y-%m-%dT%H:%M:%SZ') AS eventtime,
            {common},
            CAST(j->>'$.readOnly' = 'true' AS BOOLEAN) AS readonly,
            TRY_CAST(json_transform(j->'$.requestParameters', '"MAP(VARCHAR, JSON)"') AS MAP(VARCHAR, VARCHAR))
                AS requestparameters,
            CAST(j AS VARCHAR) AS eventjson
        FROM raw
    """)
    # Athena (CloudTrail DDL): JSON documents as strings, resources an array of structs, the
    # `timestamp` partition as yyyy/MM/dd.
    conn.execute("CREATE SCHEMA cloudtrail")
    conn.execute(f"""
        CREATE TABLE cloudtrail.cloudtrail_logs AS SELECT
            j->>'$.eventID' AS eventid,
            j->>'$.eventTime' AS eventtime,
            {common},
            j->>'$.readOnly' AS readonly,
            NULLIF(CAST(j->'$.requestParameters' AS VARCHAR), 'null') AS requestparameters,
            NULLIF(CAST(j->'$.responseElements' AS VARCHAR), 'null') AS responseelements,
            NULLIF(CAST(j->'$.additionalEventData' AS VARCHAR), 'null') AS additionaleventdata,
            json_transform(j->'$.resources', '[{{"ARN":"VARCHAR","accountId":"VARCHAR","type":"VARCHAR"}}]')
                AS resources,
            strftime(strptime(j->>'$.eventTime', '%Y-%m-%dT%H:%M:%SZ'), '%Y/%m/%d') AS "timestamp"
        FROM raw
    """)
    return conn


def fetch(conn: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, params) if params is not None else conn.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
