\set r random(1, 1000000000)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('new' || :r)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT * FROM register_device('new ' || :r, 'laptop', 16, 8, 512);
COMMIT;
