-- The seed design (ENTERPRISE_COMPUTE_AGGREGATION.md), written out as plain SQL to measure
-- against: its table and both indexes, its foreign key to profiles, a PL/pgSQL trigger for the
-- score on every insert and update, and get_network_stats() as one aggregation scan.
-- Heartbeats are the UPDATE its backend sends through supabase-js.

-- The seed's users: `user_id uuid references profiles(id)`. Only the key matters to the
-- foreign key, so the table is reduced to it; bench/profiles.sql fills it.
CREATE TABLE public.profiles (
  id uuid primary key
);

CREATE TABLE public.compute_devices (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references public.profiles(id),
  device_name text,
  device_type text check (device_type in ('phone', 'laptop', 'desktop', 'server')),
  ram_gb numeric not null default 0,
  cpu_cores integer not null default 0,
  storage_gb numeric not null default 0,
  compute_score numeric not null default 0,
  is_active boolean not null default false,
  last_seen timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

CREATE INDEX idx_compute_devices_active ON public.compute_devices (is_active, last_seen);
CREATE INDEX idx_compute_devices_user ON public.compute_devices (user_id);

CREATE FUNCTION public.calculate_compute_score() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.compute_score := (NEW.ram_gb * 2) + (NEW.cpu_cores * 5) + (NEW.storage_gb * 0.05);
  NEW.updated_at := now();
  RETURN NEW;
END;
$$;

CREATE TRIGGER compute_devices_score BEFORE INSERT OR UPDATE ON public.compute_devices
  FOR EACH ROW EXECUTE FUNCTION public.calculate_compute_score();

CREATE FUNCTION public.get_network_stats()
RETURNS TABLE (active_nodes bigint, total_ram_gb numeric, total_cpu_cores bigint,
               total_storage_gb numeric, total_compute_score numeric)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
  SELECT count(*), coalesce(sum(ram_gb), 0), coalesce(sum(cpu_cores), 0),
         coalesce(sum(storage_gb), 0), coalesce(sum(compute_score), 0)
    FROM public.compute_devices
   WHERE is_active = true AND last_seen > now() - interval '5 minutes';
$$;

-- The seed's backend acts for the user: the same role switch as the extension side.
GRANT SELECT, INSERT, UPDATE ON public.compute_devices TO authenticated;
GRANT EXECUTE ON FUNCTION public.get_network_stats() TO anon;
