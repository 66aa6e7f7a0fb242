-- The get_capacity case's network (bench/capacity.sh): the extension made anew with :devices
-- devices, 90% of them active as in bench/load.sql, in 50 countries (5% name none), about 30%
-- with accelerators in the mixes their types have. Written in bulk SQL, in the transaction that
-- creates the extension, so the worker first sees the table whole and rebuilds its slots from it
-- (accelerators and countries included). The model keys are written as register_device derives
-- them (src/accelerators/model.rs). Then the indexes a DBA would add for the plain-SQL questions,
-- and each question asked both ways as a view: capacity_<shape>_ext calls get_capacity,
-- capacity_<shape>_sql asks the tables. get_capacity's answer is compared and measured whole,
-- but its view shows only the live columns, and only groups with a live device (it also
-- returns groups whose devices are all offline, for their expected capacity: issue 16).
BEGIN;
DROP EXTENSION IF EXISTS compute_devices CASCADE;
CREATE EXTENSION compute_devices;
SELECT setseed(0.15) \g /dev/null

-- Where the devices are: a country drawn with its weight (out of 105; NULL: none given).
CREATE TEMP TABLE bench_country ON COMMIT DROP AS
SELECT array_agg(code ORDER BY code) AS codes
  FROM (VALUES ('US', 14), ('CA', 3), ('MX', 2), ('BR', 3), ('AR', 1), ('CL', 1), ('CO', 1),
               ('DE', 6), ('GB', 5), ('FR', 4), ('NL', 3), ('SE', 2), ('PL', 2), ('IT', 2),
               ('ES', 2), ('FI', 1), ('IE', 1), ('CH', 1), ('NO', 1), ('AT', 1), ('BE', 1),
               ('DK', 1), ('CZ', 1), ('PT', 1), ('RO', 1), ('UA', 1), ('GR', 1),
               ('JP', 4), ('KR', 2), ('CN', 4), ('IN', 5), ('SG', 2), ('ID', 2), ('VN', 1),
               ('TH', 1), ('MY', 1), ('PH', 1), ('TW', 1), ('IL', 1), ('AE', 1), ('SA', 1),
               ('TR', 1), ('PK', 1), ('ZA', 1), ('NG', 1), ('KE', 1), ('EG', 1), ('MA', 1),
               ('AU', 2), ('NZ', 1), (NULL, 5)) AS c(code, weight),
       generate_series(1, c.weight);

-- What each type of device is like: its share (of 10), the chance it has accelerators, and the
-- specs it is drawn from (RAM as its system reports it, a little under the nominal size).
CREATE TEMP TABLE bench_type ON COMMIT DROP AS
SELECT * FROM (VALUES
    ('phone',   3, 0.05, '{4,6,8,12,16}'::int[],               '{6,8}'::int[],                 '{64,128,256,512,1024}'::int[]),
    ('laptop',  3, 0.20, '{8,16,32,64}',                       '{4,8,10,12,16,24}',            '{256,512,1024,2048,4096}'),
    ('desktop', 2, 0.45, '{16,32,64,128}',                     '{6,8,12,16,24,32}',            '{512,1024,2048,4096,8192}'),
    ('server',  2, 0.70, '{64,128,256,512,1024,2048}',         '{16,32,48,64,96,128,192}',     '{960,1920,3840,7680,15360,30720}')
) AS t(device_type, share, with_accelerators, ram_gb, cpu_cores, storage_gb);

-- Accelerator mixes a device of a type may have, with their weights: one row per group of
-- identical accelerators (a laptop's integrated GPU beside its discrete one: two rows), the
-- count drawn from counts. Memory per accelerator as the drivers report it (0: shared memory).
CREATE TEMP TABLE bench_mix ON COMMIT DROP AS
SELECT * FROM (VALUES
    (1,  'server',  10, 'nvidia',   'NVIDIA H100 80GB HBM3',              'h100-80gb-hbm3',              81559,  '{8,8,4}'::int[]),
    (2,  'server',  10, 'nvidia',   'NVIDIA A100-SXM4-80GB',              'a100-sxm4-80gb',              81920,  '{8,4,2}'),
    (3,  'server',   8, 'nvidia',   'NVIDIA A100-PCIE-40GB',              'a100-pcie-40gb',              40960,  '{1,2,4}'),
    (4,  'server',  10, 'nvidia',   'NVIDIA L40S',                        'l40s',                        46068,  '{1,2,4,8}'),
    (5,  'server',  12, 'nvidia',   'NVIDIA A10',                         'a10',                         23028,  '{1,2,4}'),
    (6,  'server',   6, 'nvidia',   'Tesla T4',                           'tesla-t4',                    15360,  '{1,2,4}'),
    (7,  'server',   8, 'nvidia',   'NVIDIA GeForce RTX 4090',            'geforce-rtx-4090',            24564,  '{1,2,4,8}'),
    (8,  'server',   6, 'amd',      'AMD Instinct MI300X',                'instinct-mi300x',             196608, '{8}'),
    (9,  'server',   4, 'amd',      'AMD Instinct MI250X',                'instinct-mi250x',             131072, '{4,8}'),
    (10, 'server',   4, 'intel',    'Intel Data Center GPU Max 1550',     'data-center-gpu-max-1550',    131072, '{4,8}'),
    (11, 'server',   3, 'nvidia',   'NVIDIA RTX A6000',                   'rtx-a6000',                   49140,  '{2,4}'),
    (20, 'desktop', 14, 'nvidia',   'NVIDIA GeForce RTX 4090',            'geforce-rtx-4090',            24564,  '{1,1,1,2}'),
    (21, 'desktop', 12, 'nvidia',   'NVIDIA GeForce RTX 4080',            'geforce-rtx-4080',            16376,  '{1}'),
    (22, 'desktop', 12, 'nvidia',   'NVIDIA GeForce RTX 3060',            'geforce-rtx-3060',            12288,  '{1}'),
    (23, 'desktop',  6, 'nvidia',   'NVIDIA GeForce RTX 3060',            'geforce-rtx-3060',            8192,   '{1}'),
    (24, 'desktop',  8, 'amd',      'AMD Radeon RX 7900 XTX',             'radeon-rx-7900-xtx',          24560,  '{1,1,2}'),
    (25, 'desktop',  3, 'amd',      'AMD Radeon PRO W7900',               'radeon-pro-w7900',            49152,  '{1,2}'),
    (26, 'desktop',  4, 'intel',    'Intel Arc A770',                     'arc-a770',                    16256,  '{1}'),
    (27, 'desktop',  5, 'apple',    'Apple M2 Ultra',                     'm2-ultra',                    0,      '{1}'),
    (28, 'desktop',  4, 'nvidia',   'NVIDIA RTX A6000',                   'rtx-a6000',                   49140,  '{1,2}'),
    (40, 'laptop',  10, 'intel',    'Intel Iris Xe Graphics',             'iris-xe-graphics',            0,      '{1}'),
    (40, 'laptop',  10, 'nvidia',   'NVIDIA GeForce RTX 4060 Laptop GPU', 'geforce-rtx-4060-laptop-gpu', 8188,   '{1}'),
    (41, 'laptop',   6, 'intel',    'Intel UHD Graphics',                 'uhd-graphics',                0,      '{1}'),
    (41, 'laptop',   6, 'nvidia',   'NVIDIA GeForce RTX 3050 Laptop GPU', 'geforce-rtx-3050-laptop-gpu', 4096,   '{1}'),
    (42, 'laptop',  10, 'apple',    'Apple M3 Pro',                       'm3-pro',                      0,      '{1}'),
    (43, 'laptop',   5, 'apple',    'Apple M2 Max',                       'm2-max',                      0,      '{1}'),
    (44, 'laptop',   8, 'intel',    'Intel Iris Xe Graphics',             'iris-xe-graphics',            0,      '{1}'),
    (45, 'laptop',   5, 'amd',      'AMD Radeon 780M Graphics',           'radeon-780m-graphics',        0,      '{1}'),
    (60, 'phone',   10, 'qualcomm', 'Qualcomm Adreno 740',                'adreno-740',                  0,      '{1}'),
    (61, 'phone',    8, 'apple',    'Apple A17 Pro GPU',                  'a17-pro-gpu',                 0,      '{1}'),
    (62, 'phone',    4, 'other',    'Mali-G715',                          'mali-g715',                   0,      '{1}')
) AS m(mix, device_type, weight, vendor, product_name, model, memory_mib, counts);

-- Each device's type, country and mix (NULL: no accelerators).
CREATE TEMP TABLE bench_device ON COMMIT DROP AS
WITH types AS (
    SELECT array_agg(device_type ORDER BY device_type) AS names
      FROM bench_type, generate_series(1, share)
), mixes AS (
    SELECT device_type, array_agg(mix ORDER BY mix) AS mixes
      FROM (SELECT DISTINCT mix, device_type, weight FROM bench_mix) AS m, generate_series(1, m.weight)
     GROUP BY device_type
), drawn AS MATERIALIZED (
    SELECT i, types.names[1 + floor(random() * cardinality(types.names))::int] AS device_type,
           c.codes[1 + floor(random() * cardinality(c.codes))::int] AS country_code
      FROM generate_series(1, :devices) AS i, types, bench_country AS c
)
SELECT d.i, d.device_type, d.country_code,
       round((t.ram_gb[1 + floor(random() * cardinality(t.ram_gb))::int] - random() * 0.6)::numeric, 2) AS ram_gb,
       t.cpu_cores[1 + floor(random() * cardinality(t.cpu_cores))::int] AS cpu_cores,
       t.storage_gb[1 + floor(random() * cardinality(t.storage_gb))::int] + 0.5 AS storage_gb,
       CASE WHEN random() < t.with_accelerators
            THEN m.mixes[1 + floor(random() * cardinality(m.mixes))::int] END AS mix
  FROM drawn AS d
  JOIN bench_type AS t USING (device_type)
  JOIN mixes AS m USING (device_type);

-- Device i is md5('d' || i), owned by md5('u' || i / 4), as in bench/load.sql.
INSERT INTO compute_devices (id, user_id, device_name, device_type, ram_gb, cpu_cores,
                             storage_gb, is_active, last_seen, country_code)
SELECT md5('d' || i)::uuid, md5('u' || i / 4)::uuid, 'device ' || i, device_type, ram_gb,
       cpu_cores, storage_gb, i % 10 <> 0,
       CASE WHEN i % 10 <> 0 THEN now() - (i % 60) * interval '1 second'
            ELSE now() - interval '1 day' END,
       country_code
  FROM bench_device;

INSERT INTO device_accelerators (device_id, vendor, product_name, model, memory_mib, count)
SELECT md5('d' || d.i)::uuid, m.vendor, m.product_name, m.model, m.memory_mib,
       m.counts[1 + floor(random() * cardinality(m.counts))::int]
  FROM bench_device AS d
  JOIN bench_mix AS m USING (mix);
COMMIT;

-- The indexes a DBA would add for these questions (the tables' keys aside: compute_devices' id,
-- device_accelerators' (device_id, vendor, model, memory_mib), countries' country_code).
-- capacity.sh prints this list with the results.
CREATE INDEX bench_accelerators_vendor_memory ON device_accelerators (vendor, memory_mib) INCLUDE (device_id, count);
CREATE INDEX bench_accelerators_model ON device_accelerators (model) INCLUDE (device_id, memory_mib, count);
CREATE INDEX bench_devices_country ON compute_devices (country_code);

-- The active devices, by the table's liveness rule (src/table/liveness.rs), with their place
-- (the window read once a query). The views are owned by the superuser who runs this, so they
-- read every owner's rows.
CREATE VIEW capacity_live AS
SELECT d.*, c.region, c.subregion
  FROM compute_devices AS d
  LEFT JOIN countries AS c USING (country_code)
 WHERE d.is_active
   AND d.last_seen > now() - (SELECT current_setting('compute_devices.active_window')::interval);

-- (a) GPUs with at least 24 GB from NVIDIA on servers in Europe: only those GPUs count.
CREATE VIEW capacity_a_ext AS
SELECT group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score,
       total_gpus, total_gpu_memory_gb
  FROM get_capacity(device_types => '{server}', regions => '{Europe}', gpu_vendors => '{nvidia}',
                    min_gpu_memory_mib => 24576) WHERE active_nodes > 0;
CREATE VIEW capacity_a_sql AS
SELECT NULL::text AS group_key, count(*) AS active_nodes, coalesce(sum(d.ram_gb), 0) AS total_ram_gb,
       coalesce(sum(d.cpu_cores), 0) AS total_cpu_cores, coalesce(sum(d.storage_gb), 0) AS total_storage_gb,
       coalesce(sum(d.compute_score), 0) AS total_compute_score, coalesce(sum(a.gpus), 0)::bigint AS total_gpus,
       coalesce(sum(a.memory_mib), 0) / 1024 AS total_gpu_memory_gb
  FROM (SELECT device_id, sum(count) AS gpus, sum(memory_mib::bigint * count) AS memory_mib
          FROM device_accelerators
         WHERE vendor = 'nvidia' AND memory_mib >= 24576
         GROUP BY device_id) AS a
  JOIN capacity_live AS d ON d.id = a.device_id
 WHERE d.device_type = 'server' AND 'Europe' IN (d.region, d.subregion);

-- (b) By country, devices with at least 32 GB of RAM and 16 cores, and all their accelerators.
CREATE VIEW capacity_b_ext AS
SELECT group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score,
       total_gpus, total_gpu_memory_gb
  FROM get_capacity(min_ram_gb => 32, min_cpu_cores => 16, group_by => 'country') WHERE active_nodes > 0;
CREATE VIEW capacity_b_sql AS
SELECT d.country_code AS group_key, count(*) AS active_nodes, sum(d.ram_gb) AS total_ram_gb,
       sum(d.cpu_cores) AS total_cpu_cores, sum(d.storage_gb) AS total_storage_gb,
       sum(d.compute_score) AS total_compute_score, coalesce(sum(a.gpus), 0)::bigint AS total_gpus,
       coalesce(sum(a.memory_mib), 0) / 1024 AS total_gpu_memory_gb
  FROM capacity_live AS d
  LEFT JOIN (SELECT device_id, sum(count) AS gpus, sum(memory_mib::bigint * count) AS memory_mib
               FROM device_accelerators
              GROUP BY device_id) AS a ON a.device_id = d.id
 WHERE d.ram_gb >= 32 AND d.cpu_cores >= 16
 GROUP BY d.country_code;

-- (c) By region, devices with at least 4 H100, A100 80 GB or MI300X GPUs (counted together).
CREATE VIEW capacity_c_ext AS
SELECT group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score,
       total_gpus, total_gpu_memory_gb
  FROM get_capacity(gpu_models => '{h100-80gb-hbm3,a100-sxm4-80gb,instinct-mi300x}', min_gpus => 4,
                    group_by => 'region') WHERE active_nodes > 0;
CREATE VIEW capacity_c_sql AS
SELECT d.region AS group_key, count(*) AS active_nodes, sum(d.ram_gb) AS total_ram_gb,
       sum(d.cpu_cores) AS total_cpu_cores, sum(d.storage_gb) AS total_storage_gb,
       sum(d.compute_score) AS total_compute_score, sum(a.gpus)::bigint AS total_gpus,
       sum(a.memory_mib) / 1024 AS total_gpu_memory_gb
  FROM (SELECT device_id, sum(count) AS gpus, sum(memory_mib::bigint * count) AS memory_mib
          FROM device_accelerators
         WHERE model IN ('h100-80gb-hbm3', 'a100-sxm4-80gb', 'instinct-mi300x')
         GROUP BY device_id
        HAVING sum(count) >= 4) AS a
  JOIN capacity_live AS d ON d.id = a.device_id
 GROUP BY d.region;

-- (d) By region, no filter: the worker's snapshot on the extension's side.
CREATE VIEW capacity_d_ext AS
SELECT group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score,
       total_gpus, total_gpu_memory_gb
  FROM get_capacity(group_by => 'region') WHERE active_nodes > 0;
CREATE VIEW capacity_d_sql AS
SELECT d.region AS group_key, count(*) AS active_nodes, sum(d.ram_gb) AS total_ram_gb,
       sum(d.cpu_cores) AS total_cpu_cores, sum(d.storage_gb) AS total_storage_gb,
       sum(d.compute_score) AS total_compute_score, coalesce(sum(a.gpus), 0)::bigint AS total_gpus,
       coalesce(sum(a.memory_mib), 0) / 1024 AS total_gpu_memory_gb
  FROM capacity_live AS d
  LEFT JOIN (SELECT device_id, sum(count) AS gpus, sum(memory_mib::bigint * count) AS memory_mib
               FROM device_accelerators
              GROUP BY device_id) AS a ON a.device_id = d.id
 GROUP BY d.region;

-- (e) By GPU model, no filter: a device counts once per model it holds, with that model's GPUs;
-- devices without accelerators under NULL.
CREATE VIEW capacity_e_ext AS
SELECT group_key, active_nodes, total_ram_gb, total_cpu_cores, total_storage_gb, total_compute_score,
       total_gpus, total_gpu_memory_gb
  FROM get_capacity(group_by => 'gpu_model') WHERE active_nodes > 0;
CREATE VIEW capacity_e_sql AS
SELECT a.model AS group_key, count(*) AS active_nodes, sum(d.ram_gb) AS total_ram_gb,
       sum(d.cpu_cores) AS total_cpu_cores, sum(d.storage_gb) AS total_storage_gb,
       sum(d.compute_score) AS total_compute_score, coalesce(sum(a.gpus), 0)::bigint AS total_gpus,
       coalesce(sum(a.memory_mib), 0) / 1024 AS total_gpu_memory_gb
  FROM capacity_live AS d
  LEFT JOIN (SELECT device_id, model, sum(count) AS gpus, sum(memory_mib::bigint * count) AS memory_mib
               FROM device_accelerators
              GROUP BY device_id, model) AS a ON a.device_id = d.id
 GROUP BY a.model;

GRANT SELECT ON capacity_a_ext, capacity_a_sql, capacity_b_ext, capacity_b_sql, capacity_c_ext,
                capacity_c_sql, capacity_d_ext, capacity_d_sql, capacity_e_ext, capacity_e_sql TO anon;
