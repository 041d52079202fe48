"""Amazon Security Lake: the saved queries over its CloudTrail tables (OCSF 1.1, source version 2), on Athena.

Security Lake stores CloudTrail management events in ``amazon_security_lake_table_<region>_cloud_trail_mgmt_2_0``
and S3 data events in ``..._s3_data_2_0``, both in ``amazon_security_lake_glue_db_<region>`` (Lake
Formation tables, Apache Iceberg, partitioned by ``time_dt``, ``region`` and ``accountid``). The
responder queries them as a Security Lake query subscriber does: Athena in the responder's workgroup,
table access through Lake Formation (``lakeformation:GetDataAccess``) and the tables' Glue definitions.
The OCSF columns map back to the row contract in the ``events`` CTE
(:func:`responder.query.sql.securitylake_sql`), so analysis, report and remediation read the same
rows as from any engine. Start, status and results are Athena's (the parent engine).
"""

from __future__ import annotations

from typing import Any

from responder.permissions import Permission
from responder.query.athena import RESULTS_PERMISSION, WORKGROUP_PERMISSION, AthenaEngine
from responder.query.base import Params
from responder.query.sql import QueryParams, check_identifier, positional, securitylake_sql

MANAGEMENT_SOURCE = "cloud_trail_mgmt_2_0"
S3_DATA_SOURCE = "s3_data_2_0"

# What a Security Lake query subscriber's role needs, by stack reference: Athena in the workgroup and
# its results, the Glue definitions of the database and the two tables, and Lake Formation's
# temporary credentials for the tables' data (GetDataAccess takes no resource: Lake Formation's own
# grants, made by the stack per table, decide what it vends).
PERMISSIONS: tuple[Permission, ...] = (
    WORKGROUP_PERMISSION,
    RESULTS_PERMISSION,
    Permission(
        ("glue:GetTable", "glue:GetDatabase", "glue:GetPartitions"),
        (
            "@securitylake_catalog",
            "@securitylake_database",
            "@securitylake_management_table",
            "@securitylake_s3_data_table",
        ),
        "Athena reads the Security Lake tables' definitions and partitions",
    ),
    Permission(
        ("lakeformation:GetDataAccess",),
        ("@securitylake_data_access",),
        "Lake Formation vends the credentials Athena reads Security Lake's data with; GetDataAccess "
        "supports no resource-level permission (the Lake Formation grants scope it to the two tables)",
    ),
)
REFERENCES: frozenset[str] = frozenset(
    {
        "athena_workgroup",
        "athena_results_bucket",
        "securitylake_catalog",
        "securitylake_database",
        "securitylake_management_table",
        "securitylake_s3_data_table",
        "securitylake_data_access",
    }
)


def region_suffix(region: str) -> str:
    """``us-east-1`` -> ``us_east_1``, as Security Lake names its database and tables."""
    return region.replace("-", "_")


def database_name(region: str) -> str:
    return f"amazon_security_lake_glue_db_{region_suffix(region)}"


def table_name(region: str, source: str) -> str:
    return f"amazon_security_lake_table_{region_suffix(region)}_{source}"


class SecurityLakeEngine(AthenaEngine):
    """Saved queries over Security Lake's CloudTrail tables, through Athena."""

    name = "securitylake"

    def __init__(
        self,
        athena: Any,
        *,
        workgroup: str,
        database: str,
        management_table: str,
        s3_data_table: str | None = None,
        accounts: tuple[str, ...] = (),
        regions: tuple[str, ...] = (),
        output_location: str | None = None,
        page_size: int = 1000,
    ):
        super().__init__(
            athena,
            workgroup=workgroup,
            database=database,
            table=management_table,
            output_location=output_location,
            page_size=page_size,
        )
        self.tables: tuple[str, ...] = (
            management_table,
            *((check_identifier(s3_data_table, "security lake table"),) if s3_data_table else ()),
        )
        self.accounts = tuple(accounts)
        self.regions = tuple(regions)

    @classmethod
    def for_region(
        cls, athena: Any, *, workgroup: str, region: str, s3_data: bool = True, **kwargs: Any
    ) -> SecurityLakeEngine:
        """The engine over Security Lake's own names in ``region`` (its rollup region)."""
        return cls(
            athena,
            workgroup=workgroup,
            database=database_name(region),
            management_table=table_name(region, MANAGEMENT_SOURCE),
            s3_data_table=table_name(region, S3_DATA_SOURCE) if s3_data else None,
            **kwargs,
        )

    def render(self, name: str, params: Params) -> tuple[str, list[str]]:
        """The exact QueryString and ExecutionParameters ``start`` sends."""
        return positional(
            *securitylake_sql(
                name,
                QueryParams.of(params),
                database=self.database,
                tables=self.tables,
                accounts=self.accounts,
                regions=self.regions,
            )
        )
