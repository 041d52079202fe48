-- write_events: the key's non-read-only events (resources created, modified or deleted), failed attempts
-- included (error_code says so), oldest first. An event without readOnly counts as a write: when in doubt,
-- show it.
SELECT
    event_time,
    event_source,
    event_name,
    error_code,
    error_message,
    aws_region,
    source_ip,
    user_agent,
    resources,
    request_parameters,
    response_elements,
    event_id,
    principal_id,
    user_name,
    identity_arn,
    access_key_id,
    account_id,
    read_only,
    event_type
FROM events
WHERE access_key_id = :access_key_id
    AND event_time >= :window_start
    AND event_time <= :window_end
    AND coalesce(lower(read_only), 'false') <> 'true'
ORDER BY event_time, event_id
