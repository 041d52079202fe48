-- coverage: how many events the logs hold in the window and their time span, so that an empty result can
-- say whether the logs cover the window ('no_data' is not 'no activity'). Every event counts, not only the key's.
SELECT
    count(*) AS events_scanned,
    min(event_time) AS first_event,
    max(event_time) AS last_event
FROM events
WHERE event_time >= :window_start
    AND event_time <= :window_end
