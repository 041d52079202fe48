-- key_provenance: where the key came from: the call that returned it (CreateAccessKey for a user's key;
-- AssumeRole, GetSessionToken, GetFederationToken or a federated AssumeRole for a session key), with who
-- made it, when, from where and for whom. Another credential made that call (a console session, an
-- administrator's key), so it is found by the key in its response, not by the key's own identity: a key
-- that made no call of its own in the logs still has a creator. Oldest first.
SELECT
    event_time,
    event_name,
    coalesce(
        json_extract_scalar(response_elements, '$.accessKey.userName'),
        json_extract_scalar(response_elements, '$.assumedRoleUser.arn'),
        json_extract_scalar(response_elements, '$.federatedUser.arn')
    ) AS created_for,
    json_extract_scalar(response_elements, '$.accessKey.status') AS created_status,
    identity_arn AS creator_arn,
    identity_type AS creator_type,
    access_key_id AS creator_access_key_id,
    source_ip,
    user_agent,
    aws_region,
    account_id,
    event_id
FROM events
WHERE event_name IN (
        'CreateAccessKey',
        'AssumeRole',
        'AssumeRoleWithSAML',
        'AssumeRoleWithWebIdentity',
        'GetSessionToken',
        'GetFederationToken'
    )
    AND coalesce(
        json_extract_scalar(response_elements, '$.accessKey.accessKeyId'),
        json_extract_scalar(response_elements, '$.credentials.accessKeyId')
    ) = :access_key_id
    AND error_code IS NULL
    AND event_time >= :window_start
    AND event_time <= :window_end
ORDER BY event_time, event_id
