-- :devices devices, four per owner, 90% of them active. Device i is md5('d' || i)::uuid and
-- its owner md5('u' || i / 4)::uuid, so the pgbench scripts can name any device and owner.
-- Run in both databases; on the extension side the Rust trigger derives the score as well.
INSERT INTO compute_devices (id, user_id, device_name, device_type, ram_gb, cpu_cores,
                             storage_gb, is_active, last_seen)
SELECT md5('d' || i)::uuid, md5('u' || i / 4)::uuid, 'device ' || i,
       (ARRAY['phone', 'laptop', 'desktop', 'server'])[1 + i % 4],
       4 + i % 61 + (i % 4) * 0.25, 1 + i % 32, 64 + i % 2000 + 0.5,
       i % 10 <> 0,
       CASE WHEN i % 10 <> 0 THEN now() - (i % 60) * interval '1 second'
            ELSE now() - interval '1 hour' END
  FROM generate_series(1, :devices) AS i;
