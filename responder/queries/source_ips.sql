-- source_ips: the key's source IP addresses, with event counts, first and last seen, and its distinct
-- user agents (JSON array text, sorted). Busiest address first.
SELECT
    source_ip,
    count(*) AS event_count,
    count_if(error_code IS NOT NULL) AS error_count,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    count(DISTINCT user_agent) AS user_agent_count,
    json_format(CAST(array_sort(array_agg(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL)) AS JSON))
        AS user_agents
FROM events
WHERE access_key_id = :access_key_id
    AND event_time >= :window_start
    AND event_time <= :window_end
GROUP BY source_ip
ORDER BY event_count DESC, source_ip
