-- The seed design's users (its profiles table), loaded before its devices: the owners of the
-- :devices devices bench/load.sql makes (md5('u' || i / 4)) and the :registrants users whose
-- registrations the register scripts send (md5('new' || j)). A user exists before they
-- register a device.
INSERT INTO public.profiles (id)
SELECT md5('u' || k)::uuid FROM generate_series(0, :devices / 4) AS k
UNION ALL
SELECT md5('new' || j)::uuid FROM generate_series(1, :registrants) AS j;
