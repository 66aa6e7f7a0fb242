\set i random(1, :devices)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('u' || :i / 4)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
UPDATE compute_devices SET last_seen = now(), is_active = true
 WHERE id = md5('d' || :i)::uuid AND user_id = md5('u' || :i / 4)::uuid;
COMMIT;
