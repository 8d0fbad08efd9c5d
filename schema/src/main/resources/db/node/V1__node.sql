-- The ibex schema on each replicated node: capture metadata, watermarks, the wake-up flag,
-- and the installer that creates one ledger and one set of capture triggers per table.
-- Needs no superuser and no untrusted language: plpgsql only.

create table if not exists ibex.capture (
  table_schema  text not null,
  table_name    text not null,
  sync_name     text not null,
  ledger_name   text not null unique,
  ordinal       integer not null,
  key_columns   text[] not null,
  installed_at  timestamptz not null default now(),
  primary key (table_schema, table_name)
);

-- How far each source node's changes to a ledger have been reconciled into this node.
-- boundary: a snapshot xmin of the source; every source change with txid < boundary is in.
create table if not exists ibex.watermark (
  ledger_name   text not null,
  source_node   text not null,
  boundary      xid8 not null,
  updated_at    timestamptz not null default now(),
  primary key (ledger_name, source_node)
);

-- One row per sync: pending is set by the engine when a wake-up reaches it and cleared when a
-- round starts, so that writers notify only while no wake-up is pending. Only the engine writes
-- this table: a writer never takes a lock here, so capture makes no application wait.
create table if not exists ibex.wake (
  sync_name     text primary key,
  pending       boolean not null default false
);

-- Version vector with node ordinal's counter advanced by one (a local change).
create or replace function ibex.vv_bump(vv bigint[], ord integer) returns bigint[]
language plpgsql immutable as $$
declare
  r bigint[] := coalesce(vv, '{}');
  i integer;
begin
  for i in coalesce(array_length(r, 1), 0) + 1 .. ord loop
    r[i] := 0;
  end loop;
  r[ord] := coalesce(r[ord], 0) + 1;
  return r;
end $$;

-- Wakes the engine unless a wake-up is pending already. Reads the flag, never writes it.
create or replace function ibex.wake(sync text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
  if not coalesce((select pending from ibex.wake where sync_name = sync), false) then
    perform pg_notify('ibex_wake', sync);
  end if;
end $$;

-- Installs capture for one table (the caller must own it or hold TRIGGER on it): a ledger table holding one row per changed key, and
-- statement-level AFTER INSERT/UPDATE/DELETE triggers with transition tables plus a BEFORE
-- TRUNCATE trigger, all through a trigger function generated for this table (static SQL, so
-- its plans are cached). Identifiers are quoted with format('%I'). Idempotent.
create or replace function ibex.install_capture(p_schema text, p_table text, p_sync text,
                                                p_ledger text, p_ordinal integer)
returns void language plpgsql as $fn$
declare
  rel        regclass := format('%I.%I', p_schema, p_table)::regclass;
  qrel       text := format('%I.%I', p_schema, p_table);
  keys       text[];
  key_defs   text;
  key_list   text;
  new_keys   text;
  old_keys   text;
  join_keys  text;
  fn         text := format('%I.%I', 'ibex', 'cap_' || p_ledger);
  lg         text := format('%I.%I', 'ibex', p_ledger);
  body       text;
begin
  select array_agg(a.attname order by k.ord)
    into keys
    from pg_index i
    cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indrelid = rel and i.indisprimary;
  if keys is null then
    raise exception 'table %.% has no primary key', p_schema, p_table using errcode = '42P10';
  end if;
  if exists (select 1 from unnest(keys) k where k like 'ibex\_%') then
    raise exception 'table %.%: key column names starting with ibex_ are reserved for the ledger', p_schema, p_table
      using errcode = '42701';
  end if;

  select string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' order by k.ord)
    into key_defs
    from unnest(keys) with ordinality as k(name, ord)
    join pg_attribute a on a.attrelid = rel and a.attname = k.name;
  select string_agg(format('%I', k), ', ') into key_list from unnest(keys) k;
  select string_agg(format('n.%I', k), ', ') into new_keys from unnest(keys) k;
  select string_agg(format('o.%I', k), ', ') into old_keys from unnest(keys) k;
  select string_agg(format('n.%I = o.%I', k, k), ' and ') into join_keys from unnest(keys) k;

  execute format('create table if not exists %s (%s, ibex_txid xid8, ibex_ts timestamptz not null default clock_timestamp(), '
                 'ibex_origin integer, ibex_deleted boolean not null default false, ibex_vv bigint[] not null default ''{}'', '
                 'primary key (%s))', lg, key_defs, key_list);
  execute format('create index if not exists %I on %s (ibex_txid)', p_ledger || '_txid', lg);

  body := format($b$
    begin
      if tg_op = 'TRUNCATE' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv)
          select %2$s, pg_current_xact_id(), clock_timestamp(), %3$s, true, ibex.vv_bump(null, %3$s) from only %4$s
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = true, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s);
      elsif tg_op = 'INSERT' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv)
          select %5$s, pg_current_xact_id(), clock_timestamp(), %3$s, false, ibex.vv_bump(null, %3$s) from ibex_new n
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = false, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s);
      elsif tg_op = 'UPDATE' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv)
          select %5$s, pg_current_xact_id(), clock_timestamp(), %3$s, false, ibex.vv_bump(null, %3$s) from ibex_new n
          union all
          select %6$s, pg_current_xact_id(), clock_timestamp(), %3$s, true, ibex.vv_bump(null, %3$s) from ibex_old o
           where not exists (select 1 from ibex_new n where %7$s)
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = excluded.ibex_deleted, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s);
      else
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv)
          select %6$s, pg_current_xact_id(), clock_timestamp(), %3$s, true, ibex.vv_bump(null, %3$s) from ibex_old o
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = true, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s);
      end if;
      perform ibex.wake(%8$L);
      return null;
    end $b$, lg, key_list, p_ordinal, qrel, new_keys, old_keys, join_keys, p_sync);

  -- security definer: applications writing the table need no privilege on schema ibex.
  execute format('create or replace function %s() returns trigger language plpgsql security definer '
                 'set search_path = pg_catalog, pg_temp as %L', fn, body);
  execute format('revoke all on function %s() from public', fn);

  execute format('drop trigger if exists ibex_capture_ins on %s', rel);
  execute format('drop trigger if exists ibex_capture_upd on %s', rel);
  execute format('drop trigger if exists ibex_capture_del on %s', rel);
  execute format('drop trigger if exists ibex_capture_trunc on %s', rel);
  execute format('create trigger ibex_capture_ins after insert on %s referencing new table as ibex_new '
                 'for each statement execute function %s()', rel, fn);
  execute format('create trigger ibex_capture_upd after update on %s referencing old table as ibex_old '
                 'new table as ibex_new for each statement execute function %s()', rel, fn);
  execute format('create trigger ibex_capture_del after delete on %s referencing old table as ibex_old '
                 'for each statement execute function %s()', rel, fn);
  execute format('create trigger ibex_capture_trunc before truncate on %s for each statement execute function %s()',
                 rel, fn);

  insert into ibex.wake (sync_name) values (p_sync) on conflict do nothing;
  insert into ibex.capture (table_schema, table_name, sync_name, ledger_name, ordinal, key_columns)
  values (p_schema, p_table, p_sync, p_ledger, p_ordinal, keys)
  on conflict (table_schema, table_name) do update
    set sync_name = excluded.sync_name, ledger_name = excluded.ledger_name,
        ordinal = excluded.ordinal, key_columns = excluded.key_columns;
end $fn$;

-- Removes capture from one table: triggers, trigger function, ledger and watermarks.
create or replace function ibex.remove_capture(p_schema text, p_table text) returns void
language plpgsql as $fn$
declare
  c   ibex.capture;
  rel regclass;
begin
  select * into c from ibex.capture where table_schema = p_schema and table_name = p_table;
  if not found then
    return;
  end if;
  rel := to_regclass(format('%I.%I', p_schema, p_table));
  if rel is not null then
    execute format('drop trigger if exists ibex_capture_ins on %s', rel);
    execute format('drop trigger if exists ibex_capture_upd on %s', rel);
    execute format('drop trigger if exists ibex_capture_del on %s', rel);
    execute format('drop trigger if exists ibex_capture_trunc on %s', rel);
  end if;
  execute format('drop function if exists %I.%I()', 'ibex', 'cap_' || c.ledger_name);
  execute format('drop table if exists %I.%I', 'ibex', c.ledger_name);
  delete from ibex.watermark where ledger_name = c.ledger_name;
  delete from ibex.capture where table_schema = p_schema and table_name = p_table;
end $fn$;
