-- A new device, registered by one of the :registrants users (bench/profiles.sql).
\set u random(1, :registrants)
\set r random(1, 1000000000000000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('new' || :u)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT * FROM register_device('new ' || :r, 'laptop', 16, 8, 512);
COMMIT;
