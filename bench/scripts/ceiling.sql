\set k random(0, :devices / 10 - 1)
\set i 10 * :k + random(1, 9)
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"' || md5('u' || :i / 4)::uuid || '","role":"authenticated"}', true);
SET LOCAL ROLE authenticated;
SELECT md5('d' || :i)::uuid;
COMMIT;
