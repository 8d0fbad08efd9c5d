-- Capture on a node: what the triggers write, and the functions that install them. Repeatable:
-- Flyway runs it again whenever it changes, and its last block rewrites every captured table's
-- trigger functions and triggers from these templates, so one copy of them exists.
--
-- What a writer pays: per statement, one INSERT ... SELECT of the changed keys from the statement's
-- transition table into an unindexed, append-only change log, and one nextval() that tells the
-- engine's poller something changed. No ledger row is touched in the writer's transaction; the
-- engine folds the log into per-key versions (the ledger) at the start of each round, and truncates
-- consumed log tables instead of deleting from them. See ADR 0004.
--
-- The log of a table is two tables, <ledger>_log0 and <ledger>_log1; the trigger functions write
-- to the one named by ibex.capture.log_slot. The engine switches the slot by rewriting the
-- functions (ibex.rotate_log) and truncates the other one once every transaction that wrote to it
-- has ended and been folded. A log row is a changed key with the statement's change stamp; the
-- writer's transaction is the row's own xmin. A row whose key columns are all null is a marker: the
-- statement changed so large a part of the table that every row its transaction wrote stands for a
-- changed key (the fold finds them by xmin), which is cheaper than logging each key.
--
-- The trigger functions run as security definer so that applications need no privilege on schema
-- ibex. They have no SET search_path (it costs a writer about 4% of its throughput): every name in
-- them is schema-qualified, operators are written OPERATOR(pg_catalog.x), and relations are
-- qualified, so no caller's search_path can change what they run (CaptureSecurityIT checks it).

-- The version a ledger row stands for: its vector with this node's counter advanced by the local
-- changes folded since the row was last written whole (null for a missing row).
create or replace function ibex.version(vv bigint[], local bigint, ord integer) returns bigint[]
language sql immutable parallel safe as $$
  select case when vv is null or local is null or local = 0 then vv
              when pg_catalog.cardinality(vv) >= ord then vv[1:ord - 1] || (vv[ord] + local) || vv[ord + 1:]
              else vv || pg_catalog.array_fill(0::bigint, array[ord - pg_catalog.cardinality(vv) - 1]) || local end
$$;

-- Writes the trigger functions of one captured table, pointed at its current log slot. Replacing a
-- function takes no lock that writers wait for: statements that started with the old one finish
-- writing to the old slot, later ones write to the new one.
create or replace function ibex.write_capture_functions(p_schema text, p_table text) returns void
language plpgsql as $fn$
declare
  c           ibex.capture;
  rel         regclass := format('%I.%I', p_schema, p_table)::regclass;
  qrel        text := format('%I.%I', p_schema, p_table);
  partitioned boolean;
  slot        text;
  key_list    text;
  n_keys      text;
  o_keys      text;
  t_keys      text;
  old_keys    text;
  new_keys    text;
  o_image     text;
  t_image     text;
  head        text;
  new_body    text;
  fn          text;
begin
  select * into c from ibex.capture where table_schema = p_schema and table_name = p_table;
  if not found then
    raise exception 'table %.% has no capture installed', p_schema, p_table using errcode = '42704';
  end if;
  select relkind = 'p' into partitioned from pg_class where oid = rel;
  slot := format('%I.%I', 'ibex', c.ledger_name || '_log' || c.log_slot);
  fn := 'cap_' || c.ledger_name;
  select string_agg(format('%I', k), ', '), string_agg(format('n.%I', k), ', '), string_agg(format('o.%I', k), ', '),
         string_agg(format('t.%I', k), ', '), string_agg(format('old.%I', k), ', '), string_agg(format('new.%I', k), ', ')
    into key_list, n_keys, o_keys, t_keys, old_keys, new_keys
    from unnest(c.key_columns) k;
  select 'array[' || string_agg(format('o.%I::pg_catalog.text', a.attname), ', ' order by a.attnum) || ']::pg_catalog.text[]',
         'array[' || string_agg(format('t.%I::pg_catalog.text', a.attname), ', ' order by a.attnum) || ']::pg_catalog.text[]'
    into o_image, t_image
    from pg_attribute a where a.attrelid = rel and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';

  -- use_variable: the stamp never loses to a user column of the same name
  head := format($h$
    #variable_conflict use_variable
    declare
      ibex_ts     pg_catalog.timestamptz := pg_catalog.clock_timestamp();
      ibex_offset pg_catalog.text := pg_catalog.current_setting('ibex.clock_offset', true);
      ibex_wake   pg_catalog.int8 := pg_catalog.nextval(%L::pg_catalog.regclass);
      ibex_n      pg_catalog.int8;
    begin
      if ibex_offset is not null and ibex_offset operator(pg_catalog.<>) '' then
        ibex_ts := ibex_ts operator(pg_catalog.+) ibex_offset::pg_catalog.interval;
      end if;
  $h$, format('%I.%I', 'ibex', c.changes_seq));

  if partitioned then
    perform ibex.write_partitioned_capture_functions(c, fn, head, slot, key_list, new_keys, old_keys, qrel);
  elsif c.bases then
    new_body := format('insert into %s (%s, ibex_ts, ibex_base) select %s, ibex_ts, ''{}''::pg_catalog.text[] from ibex_new n;',
                       slot, key_list, n_keys);
  else
    -- up to 1000 keys are logged one by one; a larger statement that changed a large part of the
    -- table logs a marker instead (scanning the table for its rows costs the engine less than
    -- logging every key costs the writer), otherwise the rest of its keys
    new_body := format($b$
      insert into %1$s (%2$s, ibex_ts) select %3$s, ibex_ts from ibex_new n limit 1000;
      get diagnostics ibex_n = row_count;
      if ibex_n operator(pg_catalog.=) 1000 then
        select pg_catalog.count(*) into ibex_n from ibex_new;
        if ibex_n operator(pg_catalog.*) 256 operator(pg_catalog.>=) pg_catalog.pg_relation_size(tg_relid) then
          insert into %1$s (ibex_ts) values (ibex_ts);
        else
          insert into %1$s (%2$s, ibex_ts) select %3$s, ibex_ts from ibex_new n offset 1000;
        end if;
      end if;$b$, slot, key_list, n_keys);
  end if;

  if not partitioned then
    perform ibex.define_capture_function(fn || '_new', head || new_body || ' return null; end');
    perform ibex.define_capture_function(fn || '_old', head || format('insert into %s (%s, ibex_ts%s) select %s, ibex_ts%s from ibex_old o;',
        slot, key_list, case when c.bases then ', ibex_base' else '' end, o_keys, case when c.bases then ', ' || o_image else '' end)
        || ' return null; end');
    perform ibex.define_capture_function(fn || '_upd', head || format('insert into %s (%s, ibex_ts, ibex_base) select %s, ibex_ts, %s from ibex_old o;',
        slot, key_list, o_keys, o_image) || ' return null; end');
  end if;
  -- TRUNCATE: every key of the table (of a partitioned table, of every partition)
  perform ibex.define_capture_function(fn || '_trunc', head || format('insert into %s (%s, ibex_ts%s) select %s, ibex_ts%s from %s %s t;',
      slot, key_list, case when c.bases then ', ibex_base' else '' end, t_keys, case when c.bases then ', ' || t_image else '' end,
      case when partitioned then '' else 'only' end, qrel) || ' return null; end');
  -- a key changed by an UPDATE: the old key is gone (without bases the statement logged the new
  -- one; with bases it logged the old one with its image, and the new one starts from nothing)
  perform ibex.define_capture_function(fn || '_key', head || case when c.bases
      then format('insert into %s (%s, ibex_ts, ibex_base) values (%s, ibex_ts, ''{}''::pg_catalog.text[]);', slot, key_list, new_keys)
      else format('insert into %s (%s, ibex_ts) values (%s, ibex_ts);', slot, key_list, old_keys) end || ' return null; end');
end $fn$;

-- The trigger functions of a partitioned table are row-level: statement triggers on the root do not
-- fire for statements that name a partition, while row triggers on the root are cloned onto every
-- partition, present and attached later, and fire whichever relation a statement names. A row that
-- an UPDATE moves to another partition fires DELETE on the old partition and INSERT on the new one
-- (not UPDATE), which log its old and new keys. A writer pays one log row per changed row (no
-- markers); ordinary tables keep the statement-level functions above. The TRUNCATE and key-change
-- functions are the same for both (write_capture_functions).
-- (its first form also took t_keys and t_image and wrote the TRUNCATE and key-change functions)
drop function if exists ibex.write_partitioned_capture_functions(ibex.capture, text, text, text, text, text, text, text, text, text);
create or replace function ibex.write_partitioned_capture_functions(c ibex.capture, fn text, head text, slot text, key_list text,
                                                                    new_keys text, old_keys text, qrel text) returns void
language plpgsql as $fn$
declare
  old_image text;
begin
  select 'array[' || string_agg(format('old.%I::pg_catalog.text', a.attname), ', ' order by a.attnum) || ']::pg_catalog.text[]'
    into old_image
    from pg_attribute a where a.attrelid = qrel::regclass and a.attnum > 0 and not a.attisdropped and a.attgenerated = '';
  perform ibex.define_capture_function(fn || '_new', head || format('insert into %s (%s, ibex_ts%s) values (%s, ibex_ts%s);',
      slot, key_list, case when c.bases then ', ibex_base' else '' end, new_keys,
      case when c.bases then ', ''{}''::pg_catalog.text[]' else '' end) || ' return null; end');
  perform ibex.define_capture_function(fn || '_old', head || format('insert into %s (%s, ibex_ts%s) values (%s, ibex_ts%s);',
      slot, key_list, case when c.bases then ', ibex_base' else '' end, old_keys, case when c.bases then ', ' || old_image else '' end)
      || ' return null; end');
  perform ibex.define_capture_function(fn || '_upd', head || format('insert into %s (%s, ibex_ts, ibex_base) values (%s, ibex_ts, %s);',
      slot, key_list, old_keys, old_image) || ' return null; end');
end $fn$;

create or replace function ibex.capture_function(c ibex.capture, p_kind text) returns text
language sql immutable as $$
  select format('%I.%I', 'ibex', 'cap_' || c.ledger_name || p_kind)
$$;

create or replace function ibex.define_capture_function(p_name text, p_body text) returns void
language plpgsql as $fn$
begin
  execute format('create or replace function %I.%I() returns trigger language plpgsql security definer as %L', 'ibex', p_name, p_body);
  execute format('revoke all on function %I.%I() from public', 'ibex', p_name);
end $fn$;

-- (Re)creates the capture triggers of one table. Takes locks that writers wait for: only for
-- installs and upgrades, never for a log rotation.
create or replace function ibex.write_capture_triggers(p_schema text, p_table text) returns void
language plpgsql as $fn$
declare
  c       ibex.capture;
  rel     regclass := format('%I.%I', p_schema, p_table)::regclass;
  changed text;
  cols    text;
begin
  select * into c from ibex.capture where table_schema = p_schema and table_name = p_table;
  select string_agg(format('old.%I is distinct from new.%I', k, k), ' or '), string_agg(format('%I', k), ', ')
    into changed, cols from unnest(c.key_columns) k;
  perform ibex.drop_capture_triggers(rel);
  if (select relkind = 'p' from pg_class where oid = rel) then
    -- row triggers, cloned onto every partition (see write_partitioned_capture_functions)
    execute format('create trigger ibex_capture_ins after insert on %s for each row execute function %s()',
                   rel, ibex.capture_function(c, '_new'));
    execute format('create trigger ibex_capture_upd after update on %s for each row execute function %s()',
                   rel, ibex.capture_function(c, case when c.bases then '_upd' else '_new' end));
    execute format('create trigger ibex_capture_del after delete on %s for each row execute function %s()',
                   rel, ibex.capture_function(c, '_old'));
    execute format('create trigger ibex_capture_trunc before truncate on %s for each statement execute function %s()',
                   rel, ibex.capture_function(c, '_trunc'));
    execute format('create trigger ibex_capture_key after update of %s on %s for each row when (%s) execute function %s()',
                   cols, rel, changed, ibex.capture_function(c, '_key'));
    return;
  end if;
  execute format('create trigger ibex_capture_ins after insert on %s referencing new table as ibex_new '
                 'for each statement execute function %s()', rel, ibex.capture_function(c, '_new'));
  if c.bases then
    execute format('create trigger ibex_capture_upd after update on %s referencing old table as ibex_old '
                   'for each statement execute function %s()', rel, ibex.capture_function(c, '_upd'));
  else
    execute format('create trigger ibex_capture_upd after update on %s referencing new table as ibex_new '
                   'for each statement execute function %s()', rel, ibex.capture_function(c, '_new'));
  end if;
  execute format('create trigger ibex_capture_del after delete on %s referencing old table as ibex_old '
                 'for each statement execute function %s()', rel, ibex.capture_function(c, '_old'));
  execute format('create trigger ibex_capture_trunc before truncate on %s for each statement execute function %s()',
                 rel, ibex.capture_function(c, '_trunc'));
  execute format('create trigger ibex_capture_key after update of %s on %s for each row when (%s) execute function %s()',
                 cols, rel, changed, ibex.capture_function(c, '_key'));
end $fn$;

create or replace function ibex.drop_capture_triggers(rel regclass) returns void
language plpgsql as $fn$
declare
  t text;
begin
  foreach t in array array['ibex_capture_ins', 'ibex_capture_upd', 'ibex_capture_del', 'ibex_capture_trunc', 'ibex_capture_key'] loop
    execute format('drop trigger if exists %I on %s', t, rel);
  end loop;
end $fn$;

-- The index whose columns identify a table's rows: its primary key, else the unique index with the
-- fewest columns (then the first by name) that is valid, not deferrable, not partial, has no
-- expression and whose columns are all NOT NULL. TableInspector applies the same rule.
create or replace function ibex.key_index(rel regclass) returns oid
language sql stable as $$
  select i.indexrelid
    from pg_index i join pg_class x on x.oid = i.indexrelid
   where i.indrelid = rel
     and (i.indisprimary
          or (i.indisunique and i.indisvalid and i.indimmediate and i.indpred is null and i.indexprs is null
              and not exists (select 1 from unnest(i.indkey) with ordinality as k(attnum, ord)
                               left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                              where k.ord <= i.indnkeyatts and (a.attnum is null or not a.attnotnull))))
   order by i.indisprimary desc, i.indnkeyatts, x.relname
   limit 1
$$;

-- Installs capture for one table (the caller must own it or hold TRIGGER on it): its ledger, its
-- two log tables, the sync's change counter, the trigger functions and the triggers. Identifiers
-- are quoted with format('%I'). Idempotent; run again with another p_bases it switches what the
-- log records, keeping what was logged and not yet folded.
create or replace function ibex.install_capture(p_schema text, p_table text, p_sync text,
                                                p_ledger text, p_ordinal integer, p_bases boolean default false)
returns void language plpgsql as $fn$
declare
  rel      regclass := format('%I.%I', p_schema, p_table)::regclass;
  keys     text[];
  key_defs text;
  key_list text;
  seq      text := 'changes_' || left(md5(p_sync), 16);
begin
  select array_agg(a.attname order by k.ord)
    into keys
    from pg_index i
    cross join lateral unnest(i.indkey) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
   where i.indexrelid = ibex.key_index(rel) and k.ord <= i.indnkeyatts;
  if keys is null then
    raise exception 'table %.% has no primary key and no unique index over NOT NULL columns', p_schema, p_table using errcode = '42P10';
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

  execute format('create table if not exists %I.%I (%s, ibex_txid xid8, ibex_ts timestamptz not null default clock_timestamp(), '
                 'ibex_origin integer, ibex_vv bigint[] not null default ''{}'', ibex_local bigint not null default 0, '
                 'ibex_base text[], ibex_base_vv bigint[], primary key (%s)) with (fillfactor = 70)', 'ibex', p_ledger, key_defs, key_list);
  -- a round reads the keys a source folded since a target's watermark through this index
  execute format('create index if not exists %I on %I.%I (ibex_txid)', p_ledger || '_txid', 'ibex', p_ledger);
  execute format('create table if not exists %I.%I (%s, ibex_ts timestamptz not null, ibex_base text[]) '
                 'with (autovacuum_enabled = false)', 'ibex', p_ledger || '_log0', key_defs);
  execute format('create table if not exists %I.%I (%s, ibex_ts timestamptz not null, ibex_base text[]) '
                 'with (autovacuum_enabled = false)', 'ibex', p_ledger || '_log1', key_defs);
  execute format('create sequence if not exists %I.%I', 'ibex', seq);

  insert into ibex.capture (table_schema, table_name, sync_name, ledger_name, ordinal, key_columns, bases, changes_seq, fold_snapshot)
  values (p_schema, p_table, p_sync, p_ledger, p_ordinal, keys, p_bases, seq, pg_current_snapshot())
  on conflict (table_schema, table_name) do update
    set sync_name = excluded.sync_name, ledger_name = excluded.ledger_name, ordinal = excluded.ordinal,
        key_columns = excluded.key_columns, bases = excluded.bases, changes_seq = excluded.changes_seq,
        fold_snapshot = coalesce(ibex.capture.fold_snapshot, excluded.fold_snapshot);
  perform ibex.write_capture_functions(p_schema, p_table);
  perform ibex.write_capture_triggers(p_schema, p_table);
  perform ibex.write_fold_function(c) from ibex.capture c where c.table_schema = p_schema and c.table_name = p_table;
end $fn$;

-- Points the table's capture at its other log table; returns the new slot. The engine calls it
-- only when the other table is empty.
create or replace function ibex.rotate_log(p_schema text, p_table text) returns smallint
language plpgsql as $fn$
declare
  s smallint;
begin
  update ibex.capture set log_slot = 1 - log_slot, slot_since = now()
   where table_schema = p_schema and table_name = p_table
  returning log_slot into s;
  perform ibex.write_capture_functions(p_schema, p_table);
  return s;
end $fn$;

-- Removes capture from one table: triggers, functions, ledger, log, watermarks, and the sync's
-- change counter when no table of the sync is left.
create or replace function ibex.remove_capture(p_schema text, p_table text) returns void
language plpgsql as $fn$
declare
  c   ibex.capture;
  rel regclass;
  f   text;
begin
  select * into c from ibex.capture where table_schema = p_schema and table_name = p_table;
  if not found then
    return;
  end if;
  rel := to_regclass(format('%I.%I', p_schema, p_table));
  if rel is not null then
    perform ibex.drop_capture_triggers(rel);
  end if;
  foreach f in array array['', '_new', '_old', '_upd', '_trunc', '_key'] loop
    execute format('drop function if exists %I.%I()', 'ibex', 'cap_' || c.ledger_name || f);
  end loop;
  execute format('drop function if exists %I.%I(pg_catalog.xid, pg_catalog.xid[], integer)', 'ibex', 'fold_' || c.ledger_name);
  execute format('drop table if exists %I.%I, %I.%I, %I.%I', 'ibex', c.ledger_name, 'ibex', c.ledger_name || '_log0',
                 'ibex', c.ledger_name || '_log1');
  delete from ibex.watermark where ledger_name = c.ledger_name;
  delete from ibex.capture where table_schema = p_schema and table_name = p_table;
  if c.changes_seq is not null and not exists (select 1 from ibex.capture where changes_seq = c.changes_seq) then
    execute format('drop sequence if exists %I.%I', 'ibex', c.changes_seq);
  end if;
end $fn$;

-- Every captured table gets the functions and triggers of this version of the templates.
do $$
declare
  c ibex.capture;
begin
  for c in select * from ibex.capture loop
    if to_regclass(format('%I.%I', c.table_schema, c.table_name)) is not null then
      perform ibex.write_capture_functions(c.table_schema, c.table_name);
      perform ibex.write_capture_triggers(c.table_schema, c.table_name);
    end if;
    execute format('drop function if exists %I.%I()', 'ibex', 'cap_' || c.ledger_name);
  end loop;
end $$;

-- Left from the capture before V4: the wake-up flag (the engine now polls each sync's change
-- counter) and the in-transaction version function.
drop function if exists ibex.wake(text);
drop table if exists ibex.wake;
drop function if exists ibex.vv_bump(bigint[], integer);
