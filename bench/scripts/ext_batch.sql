\set b random(1, :batches)
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"service_role"}', true);
SET LOCAL ROLE service_role;
SELECT count(*) FROM bench_batches AS b, send_heartbeats(b.user_ids, b.device_ids) WHERE b.n = :b;
COMMIT;
