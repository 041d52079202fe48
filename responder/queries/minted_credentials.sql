-- minted_credentials: credentials the key minted: temporary ones (GetSessionToken, GetFederationToken,
-- AssumeRole: responseElements.credentials.accessKeyId) and long-term ones (CreateAccessKey:
-- responseElements.accessKey.accessKeyId). Each minted key needs its own investigation. Oldest first.
SELECT
    event_time,
    event_name,
    coalesce(
        json_extract_scalar(response_elements, '$.credentials.accessKeyId'),
        json_extract_scalar(response_elements, '$.accessKey.accessKeyId')
    ) AS minted_access_key_id,
    coalesce(
        json_extract_scalar(response_elements, '$.accessKey.userName'),
        json_extract_scalar(response_elements, '$.assumedRoleUser.arn'),
        json_extract_scalar(response_elements, '$.federatedUser.arn'),
        identity_arn
    ) AS minted_for,
    json_extract_scalar(response_elements, '$.credentials.expiration') AS expiration,
    source_ip,
    aws_region,
    event_id,
    access_key_id
FROM events
WHERE access_key_id = :access_key_id
    AND event_time >= :window_start
    AND event_time <= :window_end
    AND event_name IN ('GetSessionToken', 'GetFederationToken', 'AssumeRole', 'CreateAccessKey')
    AND error_code IS NULL
ORDER BY event_time, event_id
