-- V2: the clock capture stamps changes with, and row bases for resolvers that merge.
--
-- ibex.clock() is clock_timestamp() shifted by the setting ibex.clock_offset (an interval, unset
-- by default). The offset exists so that tests can play a node whose clock runs behind or ahead;
-- do not set it in production. The engine measures clock skew with the same function.
--
-- A ledger row's base (ibex_base, ibex_base_vv) is the row as this node held it before its local
-- changes that no other node has seen yet, as text values in column order ('{}' = absent), with
-- that row's version. Capture records it only for tables whose resolver asks for it (p_bases);
-- the engine clears it once the change has been reconciled.

create or replace function ibex.clock() returns timestamptz
language sql volatile as $$
  select clock_timestamp() + coalesce(nullif(current_setting('ibex.clock_offset', true), ''), '0')::interval
$$;

drop function if exists ibex.install_capture(text, text, text, text, integer);

-- Installs capture for one table (the caller must own it or hold TRIGGER on it): a ledger table holding one row per changed key, and
-- statement-level AFTER INSERT/UPDATE/DELETE triggers with transition tables plus a BEFORE
-- TRUNCATE trigger, all through a trigger function generated for this table (static SQL, so
-- its plans are cached). Identifiers are quoted with format('%I'). Idempotent; re-running it
-- with other arguments (e.g. p_bases) replaces the trigger function.
create or replace function ibex.install_capture(p_schema text, p_table text, p_sync text,
                                                p_ledger text, p_ordinal integer, p_bases boolean default false)
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
  ob_join    text;
  old_image  text;
  ob_image   text;
  tbl_image  text;
  fn         text := format('%I.%I', 'ibex', 'cap_' || p_ledger);
  lg         text := format('%I.%I', 'ibex', p_ledger);
  -- with bases: extra insert columns, the base of an inserted key, of an old row, of a truncated row, and the upsert rule
  b_cols     text := '';
  b_ins      text := '';
  b_old      text := '';
  b_new      text := '';
  b_trunc    text := '';
  b_set      text := '';
  upd_from   text := 'ibex_new n';
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
  select string_agg(format('n.%I = ob.%I', k, k), ' and ') into ob_join from unnest(keys) k;
  select 'array[' || string_agg(format('o.%I::text', a.attname), ', ' order by a.attnum) || ']::text[]',
         'array[' || string_agg(format('ob.%I::text', a.attname), ', ' order by a.attnum) || ']::text[]',
         'array[' || string_agg(format('t.%I::text', a.attname), ', ' order by a.attnum) || ']::text[]'
    into old_image, ob_image, tbl_image
    from pg_attribute a where a.attrelid = rel and a.attnum > 0 and not a.attisdropped;

  execute format('create table if not exists %s (%s, ibex_txid xid8, ibex_ts timestamptz not null default clock_timestamp(), '
                 'ibex_origin integer, ibex_deleted boolean not null default false, ibex_vv bigint[] not null default ''{}'', '
                 'primary key (%s))', lg, key_defs, key_list);
  execute format('alter table %s add column if not exists ibex_base text[], add column if not exists ibex_base_vv bigint[]', lg);
  execute format('create index if not exists %I on %s (ibex_txid)', p_ledger || '_txid', lg);

  if p_bases then
    b_cols  := ', ibex_base, ibex_base_vv';
    b_ins   := ', ''{}''::text[], ''{}''::bigint[]';
    b_old   := ', ' || old_image || ', ''{}''::bigint[]';
    b_new   := format(', case when ob.%I is null then ''{}''::text[] else %s end, ''{}''::bigint[]', keys[1], ob_image);
    b_trunc := ', ' || tbl_image || ', ''{}''::bigint[]';
    upd_from := 'ibex_new n left join ibex_old ob on ' || ob_join;
    b_set   := ', ibex_base = coalesce(l.ibex_base, excluded.ibex_base), '
               'ibex_base_vv = case when l.ibex_base is null then l.ibex_vv else l.ibex_base_vv end';
  end if;

  -- use_variable: the stamp variable never loses to a user column of the same name.
  body := format($b$
    #variable_conflict use_variable
    declare
      ibex_now timestamptz := ibex.clock();
    begin
      if tg_op = 'TRUNCATE' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv%9$s)
          select %2$s, pg_current_xact_id(), ibex_now, %3$s, true, ibex.vv_bump(null, %3$s)%13$s from only %4$s t
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = true, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s)%14$s;
      elsif tg_op = 'INSERT' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv%9$s)
          select %5$s, pg_current_xact_id(), ibex_now, %3$s, false, ibex.vv_bump(null, %3$s)%10$s from ibex_new n
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = false, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s)%14$s;
      elsif tg_op = 'UPDATE' then
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv%9$s)
          select %5$s, pg_current_xact_id(), ibex_now, %3$s, false, ibex.vv_bump(null, %3$s)%12$s
            from %15$s
          union all
          select %6$s, pg_current_xact_id(), ibex_now, %3$s, true, ibex.vv_bump(null, %3$s)%11$s from ibex_old o
           where not exists (select 1 from ibex_new n where %7$s)
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = excluded.ibex_deleted, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s)%14$s;
      else
        insert into %1$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_deleted, ibex_vv%9$s)
          select %6$s, pg_current_xact_id(), ibex_now, %3$s, true, ibex.vv_bump(null, %3$s)%11$s from ibex_old o
          on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts, ibex_origin = excluded.ibex_origin,
            ibex_deleted = true, ibex_vv = ibex.vv_bump(l.ibex_vv, %3$s)%14$s;
      end if;
      perform ibex.wake(%8$L);
      return null;
    end $b$, lg, key_list, p_ordinal, qrel, new_keys, old_keys, join_keys, p_sync,
             b_cols, b_ins, b_old, b_new, b_trunc, b_set, upd_from);

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

-- Captures installed by V1 stamp with clock_timestamp() and have no base columns: reinstall them.
do $$
declare
  c ibex.capture;
begin
  for c in select * from ibex.capture loop
    if to_regclass(format('%I.%I', c.table_schema, c.table_name)) is not null then
      perform ibex.install_capture(c.table_schema, c.table_name, c.sync_name, c.ledger_name, c.ordinal, false);
    end if;
  end loop;
end $$;
