-- s3_data_events: the key's S3 object-level (data) events, by bucket, object and API, with the bytes sent
-- out (additionalEventData.bytesTransferredOut) and in. Needs S3 data events in the trail or event data store.
SELECT
    json_extract_scalar(request_parameters, '$.bucketName') AS bucket,
    json_extract_scalar(request_parameters, '$.key') AS object_key,
    event_name,
    count(*) AS event_count,
    count_if(error_code IS NOT NULL) AS error_count,
    CAST(sum(TRY_CAST(json_extract_scalar(additional_event_data, '$.bytesTransferredOut') AS DOUBLE)) AS BIGINT)
        AS bytes_out,
    CAST(sum(TRY_CAST(json_extract_scalar(additional_event_data, '$.bytesTransferredIn') AS DOUBLE)) AS BIGINT)
        AS bytes_in,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen
FROM events
WHERE access_key_id = :access_key_id
    AND event_time >= :window_start
    AND event_time <= :window_end
    AND event_source = 's3.amazonaws.com'
    AND event_name IN (
        'GetObject', 'HeadObject', 'GetObjectAcl', 'GetObjectAttributes', 'GetObjectTagging',
        'GetObjectVersion', 'SelectObjectContent', 'RestoreObject',
        'PutObject', 'PutObjectAcl', 'PutObjectTagging', 'CopyObject', 'UploadPart', 'UploadPartCopy',
        'CreateMultipartUpload', 'CompleteMultipartUpload', 'AbortMultipartUpload',
        'DeleteObject', 'DeleteObjects', 'DeleteObjectTagging',
        'ListObjects', 'ListObjectsV2', 'ListObjectVersions', 'ListMultipartUploads', 'ListParts'
    )
GROUP BY 1, 2, 3
ORDER BY bytes_out DESC, bucket, object_key, event_name
