\set r random(1, 1000000000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('new' || :r)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
INSERT INTO compute_devices (id, user_id, device_name, device_type, ram_gb, cpu_cores, storage_gb, is_active, last_seen)
VALUES (gen_random_uuid(), md5('new' || :r)::uuid, 'new ' || :r, 'laptop', 16, 8, 512, true, now())
RETURNING *;
COMMIT;
