\set i random(1, :devices)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('u' || :i / 4)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT * FROM send_heartbeat(md5('d' || :i)::uuid);
COMMIT;
