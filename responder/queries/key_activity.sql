-- key_activity: everything the access key did in the window, newest first (the playbook's primary query).
-- Runs over the logical table `events` (one row per CloudTrail event, row-contract columns); each engine
-- prepends its own `events` CTE. Parameters: :access_key_id, :window_start, :window_end (ISO 8601 UTC).
SELECT
    event_time,
    event_name,
    principal_id,
    user_name,
    source_ip,
    user_agent,
    resources,
    aws_region,
    request_parameters,
    response_elements,
    event_id,
    event_source,
    error_code,
    error_message,
    identity_type,
    identity_arn,
    access_key_id,
    account_id,
    read_only,
    event_type,
    additional_event_data
FROM events
WHERE access_key_id = :access_key_id
    AND event_time >= :window_start
    AND event_time <= :window_end
ORDER BY event_time DESC, event_id DESC
