-- V4: capture appends the changed keys to a change log, once per statement; the engine folds the
-- log into the ledgers (see R__capture.sql and ADR 0004). This migration changes the tables; the
-- repeatable migration that runs right after it in the same transaction installs the new capture
-- functions and triggers on every captured table.
--
-- Nothing waiting in the old ledgers is lost: their rows keep their version vectors, and their
-- ibex_txid (the writer's txid under the old capture) stays below every txid a fold will stamp, so
-- the windows that the nodes' watermarks describe still contain them.

alter table ibex.capture
  add column if not exists bases boolean not null default false,
  add column if not exists changes_seq text,
  add column if not exists log_slot smallint not null default 0,
  add column if not exists slot_since timestamptz not null default now(),
  add column if not exists fold_snapshot pg_snapshot,
  add column if not exists last_fold_txid xid8;

do $$
declare
  c        ibex.capture;
  key_defs text;
  rel      regclass;
begin
  -- first hold off writers of every captured table: a writer whose old trigger is already running
  -- finishes before the ledgers change, and later ones run the new triggers
  for c in select * from ibex.capture order by table_schema, table_name loop
    if to_regclass(format('%I.%I', c.table_schema, c.table_name)) is not null then
      execute format('lock table %I.%I in share row exclusive mode', c.table_schema, c.table_name);
    end if;
  end loop;
  for c in select * from ibex.capture loop
    rel := to_regclass(format('%I.%I', c.table_schema, c.table_name));
    if rel is null then
      continue;
    end if;
    -- the old capture tracked bases when its function joined the old rows for them
    update ibex.capture
       set bases = coalesce((select p.prosrc like '%left join ibex_old ob%' from pg_proc p
                              where p.oid = to_regprocedure(format('%I.%I()', 'ibex', 'cap_' || c.ledger_name))), false),
           changes_seq = 'changes_' || left(md5(c.sync_name), 16),
           fold_snapshot = pg_current_snapshot()
     where ledger_name = c.ledger_name;
    execute format('update ibex.capture set last_fold_txid = (select max(ibex_txid) from %I.%I) where ledger_name = %L',
                   'ibex', c.ledger_name, c.ledger_name);
    -- local changes are counted apart from the vector until the ledger row is next written
    execute format('alter table %I.%I add column if not exists ibex_local bigint not null default 0, '
                   'drop column if exists ibex_deleted, set (fillfactor = 70)', 'ibex', c.ledger_name);
    select string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' order by k.ord)
      into key_defs
      from unnest(c.key_columns) with ordinality as k(name, ord)
      join pg_attribute a on a.attrelid = rel and a.attname = k.name;
    execute format('create table if not exists %I.%I (%s, ibex_ts timestamptz not null, ibex_base text[]) '
                   'with (autovacuum_enabled = false)', 'ibex', c.ledger_name || '_log0', key_defs);
    execute format('create table if not exists %I.%I (%s, ibex_ts timestamptz not null, ibex_base text[]) '
                   'with (autovacuum_enabled = false)', 'ibex', c.ledger_name || '_log1', key_defs);
    execute format('create sequence if not exists %I.%I', 'ibex', 'changes_' || left(md5(c.sync_name), 16));
  end loop;
end $$;
