-- A new device, registered by one of the :registrants users (bench/profiles.sql).
\set u random(1, :registrants)
\set r random(1, 1000000000000000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('new' || :u)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
INSERT INTO compute_devices (id, user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, is_active, last_seen)
VALUES (gen_random_uuid(), md5('new' || :u)::uuid, 'new ' || :r, 'laptop', 16, 8, 512, true, now())
RETURNING *;
COMMIT;
