-- same_ip_credentials: other access keys active from the key's source IPs in the window (same actor,
-- other credentials?). AWS service addresses (AWS Internal, *.amazonaws.com) are left out: every key
-- shares them.
WITH key_ips AS (
    SELECT DISTINCT source_ip
    FROM events
    WHERE access_key_id = :access_key_id
        AND event_time >= :window_start
        AND event_time <= :window_end
        AND source_ip IS NOT NULL
        AND source_ip <> 'AWS Internal'
        AND source_ip NOT LIKE '%.amazonaws.com'
)
SELECT
    e.access_key_id,
    e.source_ip,
    count(*) AS event_count,
    min(e.event_time) AS first_seen,
    max(e.event_time) AS last_seen,
    max(e.identity_arn) AS identity_arn,
    max(e.identity_type) AS identity_type
FROM events AS e
JOIN key_ips AS k ON e.source_ip = k.source_ip
WHERE e.event_time >= :window_start
    AND e.event_time <= :window_end
    AND e.access_key_id IS NOT NULL
    AND e.access_key_id <> :access_key_id
GROUP BY e.access_key_id, e.source_ip
ORDER BY event_count DESC, e.access_key_id, e.source_ip
