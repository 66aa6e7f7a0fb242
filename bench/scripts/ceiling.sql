\set i random(1, :devices)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('u' || :i / 4)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT 1;
COMMIT;
