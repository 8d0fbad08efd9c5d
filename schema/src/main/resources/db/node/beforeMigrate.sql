-- Flyway runs this before every migration of a node's ibex schema; it is not versioned.
--
-- PostgreSQL 14 has no max(xid8) (15 added min and max for xid8), which V4 uses when it upgrades a
-- node that captured tables under schema version 3. Where the aggregate is missing this defines it
-- in schema ibex, which the migrations find after pg_catalog on their search_path. A no-op on 15+
-- and on a new node (no schema ibex yet, so no V3 ledger for V4 to read).
do $$
begin
  if current_setting('server_version_num')::int < 150000 and to_regnamespace('ibex') is not null then
    create or replace function ibex.xid8_larger(a xid8, b xid8) returns xid8
      language sql immutable strict parallel safe
      as 'select case when a operator(pg_catalog.>=) b then a else b end';
    create or replace aggregate ibex.max(xid8) (sfunc = ibex.xid8_larger, stype = xid8,
      combinefunc = ibex.xid8_larger, parallel = safe);
  end if;
end $$;
