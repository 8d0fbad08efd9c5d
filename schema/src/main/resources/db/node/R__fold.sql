-- The fold: the engine's first write of every round on a node, in one call (see LogFolder in the
-- engine and ADR 0004). Repeatable: Flyway runs it again whenever it changes.
--
-- A fold turns every key logged by a transaction that committed after the previous fold into a
-- ledger version: the node's counter advanced by one local change (ibex_local), the newest stamp
-- among its entries, this node as origin, and the fold's own txid as ibex_txid. Which log rows it
-- takes is decided by snapshots, not by txid order: the rows whose writing transaction is visible
-- in the fold's snapshot and was not in the previous fold's (ibex.capture.fold_snapshot, written in
-- the same transaction as the ledgers). So the caller runs it in a REPEATABLE READ transaction:
-- every statement below then sees the one snapshot the fold records.

-- Each key column formatted by fmt (the column as %1$I), joined by sep.
create or replace function ibex.key_list(keys text[], fmt text, sep text) returns text
language sql immutable as $$
  select string_agg(format(fmt, k), sep order by o) from unnest(keys) with ordinality u(k, o)
$$;

-- The statement that folds one table's log into its ledger, the body of the table's fold function
-- (write_fold_function): $1 the previous fold's xmax and $2 its in-progress xids (as 32-bit xids,
-- which rows carry), $3 the node's ordinal; how many keys it advanced goes into ibex_n.
-- A log row whose key columns are all null is a marker: every row of the table its transaction
-- wrote stands for a changed key (found by xmin). With row bases, a key's base is the row before
-- the earliest of the new entries, unless the ledger already holds one (changes not yet seen
-- elsewhere), with the version it had.
create or replace function ibex.fold_statement(c ibex.capture) returns text
language plpgsql stable as $fn$
declare
  keys      text := ibex.key_list(c.key_columns, '%1$I', ', ');
  keys_s    text := ibex.key_list(c.key_columns, 's.%1$I', ', ');
  keys_t    text := ibex.key_list(c.key_columns, 't.%1$I', ', ');
  keys_k    text := ibex.key_list(c.key_columns, 'k.%1$I', ', ');
  keys_b    text := ibex.key_list(c.key_columns, 'b.%1$I', ', ');
  first_key text := format('s.%I', c.key_columns[1]);
  log0      text := format('%I.%I', 'ibex', c.ledger_name || '_log0');
  log1      text := format('%I.%I', 'ibex', c.ledger_name || '_log1');
  ledger    text := format('%I.%I', 'ibex', c.ledger_name);
  new_entries text;
begin
  new_entries := format($q$
      select %1$s, s.ibex_ts, s.ibex_base from %2$s s, p where %4$s is not null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
      union all
      select %1$s, s.ibex_ts, s.ibex_base from %3$s s, p where %4$s is not null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
      union all
      select %5$s, m.ibex_ts, null::text[] from %6$s t join (
          select s.xmin as x, max(s.ibex_ts) as ibex_ts from (
              select s.xmin, s.ibex_ts from %2$s s, p where %4$s is null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
              union all
              select s.xmin, s.ibex_ts from %3$s s, p where %4$s is null and (pg_catalog.age(s.xmin) <= p.ax or s.xmin = any(p.xip))
          ) s group by s.xmin) m on t.xmin = m.x$q$,
      keys_s, log0, log1, first_key, keys_t, format('%I.%I', c.table_schema, c.table_name));
  if not c.bases then
    return format($q$
        with p as (select pg_catalog.age($1) as ax, $2 as xip),
        e as (%1$s),
        k as (select %2$s, max(ibex_ts) as ibex_ts from e group by %2$s),
        w as (insert into %3$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_local)
              select %4$s, pg_catalog.pg_current_xact_id(), k.ibex_ts, $3, 1 from k
              on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts,
                                               ibex_origin = excluded.ibex_origin, ibex_local = l.ibex_local + 1
              returning 1)
        select count(*) into ibex_n from w$q$, new_entries, keys, ledger, keys_k);
  end if;
  return format($q$
      with p as (select pg_catalog.age($1) as ax, $2 as xip),
      e as (%1$s),
      b as (select distinct on (%2$s) %2$s, e.ibex_base, max(e.ibex_ts) over (partition by %2$s) as newest
              from e order by %2$s, e.ibex_ts),
      w as (insert into %3$s as l (%2$s, ibex_txid, ibex_ts, ibex_origin, ibex_local, ibex_base, ibex_base_vv)
            select %4$s, pg_catalog.pg_current_xact_id(), b.newest, $3, 1, b.ibex_base, '{}'::bigint[] from b
            on conflict (%2$s) do update set ibex_txid = excluded.ibex_txid, ibex_ts = excluded.ibex_ts,
                   ibex_origin = excluded.ibex_origin, ibex_local = l.ibex_local + 1,
                   ibex_base = coalesce(l.ibex_base, excluded.ibex_base),
                   ibex_base_vv = case when l.ibex_base is null then ibex.version(l.ibex_vv, l.ibex_local, $3) else l.ibex_base_vv end
            returning 1)
      select count(*) into ibex_n from w$q$, new_entries, keys, ledger, keys_b);
end $fn$;

-- Writes the table's fold function, ibex.fold_<ledger>(xmax, xip, ordinal), whose one statement is
-- fold_statement's: a static statement, so each session plans it once and keeps the plan (an
-- EXECUTE of the rendered text was parsed and planned at every fold: a third of the fold's time
-- under sustained writes, see ADR 0008). Its plan does not depend on the arguments, which reach the
-- statement through a CTE. install_capture writes it, remove_capture drops it, and this file's last
-- block rewrites it for every captured table.
create or replace function ibex.write_fold_function(c ibex.capture) returns void
language plpgsql as $fn$
begin
  execute format('create or replace function %I.%I(pg_catalog.xid, pg_catalog.xid[], integer) returns bigint language plpgsql as %L',
                 'ibex', 'fold_' || c.ledger_name,
                 'declare ibex_n pg_catalog.int8; begin ' || ibex.fold_statement(c) || '; return ibex_n; end');
  execute format('revoke all on function %I.%I(pg_catalog.xid, pg_catalog.xid[], integer) from public', 'ibex', 'fold_' || c.ledger_name);
end $fn$;

-- A 64-bit transaction id as the 32-bit xid that rows carry.
create or replace function ibex.xid32(x xid8) returns xid
language sql immutable parallel safe as $$
  select (x::text::numeric % 4294967296)::text::xid
$$;

-- Folds the change logs of every table of p_sync captured on this node, after checking the fence
-- (ibex.fence, whose lock it takes before its first write). A table whose fold fails is left as it was and reported in error; the others are
-- folded. Returns one row per captured table of the sync as it stands after the fold (none but a
-- row of nulls with the snapshot when none is captured): the fold's snapshot, the age of xid 3 when
-- it was taken (the engine derives the next xid from it), the table's capture catalog row, the size
-- of each log table as the fold found it, how many keys its fold advanced, and the node's watermarks for its ledger.
create or replace function ibex.fold_logs(p_sync text, p_epoch bigint, p_ordinal integer)
returns table (fold_snapshot text, next_age bigint, table_schema text, table_name text, ledger_name text, key_columns text[],
               bases boolean, log_slot smallint, slot_since timestamptz, log0_bytes bigint, log1_bytes bigint,
               folded_keys bigint, error text, last_fold_txid text, mark_sources text[], mark_boundaries text[])
language plpgsql as $fn$
declare
  snap    pg_snapshot;
  nxt     bigint;
  c       ibex.capture;
  n       bigint;
  total   bigint := 0;
  stale   boolean := false;
  -- per table, in the loop's order: what the result reports and what the fold records (arrays grow
  -- in place in plpgsql; a jsonb object rebuilt per table made an idle fold of 1 000 tables take
  -- 150 ms more)
  names   text[] := '{}';
  bytes0  bigint[] := '{}';
  bytes1  bigint[] := '{}';
  counts  bigint[] := '{}';
  errors  text[] := '{}';
  err     text;
  s0      bigint;
  s1      bigint;
  fenced  boolean := false;
begin
  -- the fence is checked first; its row lock (which makes this a transaction with a commit to
  -- flush) is taken only when there is something to write
  if (select f.epoch from ibex.sync_fence f where f.sync_name = p_sync) is distinct from p_epoch then
    perform ibex.fence(p_sync, p_epoch);
  end if;
  snap := pg_catalog.pg_current_snapshot();
  -- age() of a fixed xid gives the next xid to be assigned
  nxt := pg_catalog.age('3'::xid);
  for c in select * from ibex.capture x where x.sync_name = p_sync order by x.table_schema, x.table_name loop
    -- snapshots older than 100 million transactions are moved up even when nothing is folded (age() wraps at 2^31)
    stale := stale or pg_catalog.pg_snapshot_xmin(snap)::text::numeric
                      - coalesce(pg_catalog.pg_snapshot_xmax(c.fold_snapshot)::text::numeric, 0) > 100000000;
    s0 := pg_catalog.pg_relation_size(format('%I.%I', 'ibex', c.ledger_name || '_log0')::regclass);
    s1 := pg_catalog.pg_relation_size(format('%I.%I', 'ibex', c.ledger_name || '_log1')::regclass);
    names := names || c.ledger_name;
    bytes0 := bytes0 || s0;
    bytes1 := bytes1 || s1;
    if s0 = 0 and s1 = 0 then
      counts := counts || 0::bigint;
      errors := errors || null::text;
      continue;
    end if;
    if not fenced then
      perform ibex.fence(p_sync, p_epoch);
      fenced := true;
    end if;
    n := 0;
    err := null;
    begin
      execute format('select %I.%I($1, $2, $3)', 'ibex', 'fold_' || c.ledger_name) into n
        using coalesce(ibex.xid32(pg_catalog.pg_snapshot_xmax(c.fold_snapshot)), '0'::xid),
              coalesce(array(select ibex.xid32(x) from pg_catalog.pg_snapshot_xip(c.fold_snapshot) x), '{}'::xid[]),
              p_ordinal;
      total := total + n;
    exception when others then
      err := sqlerrm;
      n := 0;
    end;
    counts := counts || n;
    errors := errors || err;
  end loop;
  if total > 0 or stale then
    if not fenced then
      perform ibex.fence(p_sync, p_epoch);
    end if;
    -- every table but those whose fold failed
    update ibex.capture x
       set fold_snapshot = snap,
           last_fold_txid = case when f.n > 0 then pg_catalog.pg_current_xact_id() else x.last_fold_txid end
      from unnest(names, counts, errors) f(ledger_name, n, err)
     where f.ledger_name = x.ledger_name and f.err is null;
  end if;
  return query
    select snap::text, nxt, x.table_schema, x.table_name, x.ledger_name, x.key_columns, x.bases, x.log_slot, x.slot_since,
           f.b0, f.b1, coalesce(f.n, 0), f.err, coalesce(x.last_fold_txid, '0')::text,
           m.sources, m.boundaries
      from ibex.capture x
      left join unnest(names, bytes0, bytes1, counts, errors) f(ledger_name, b0, b1, n, err) on f.ledger_name = x.ledger_name
      left join lateral (select array_agg(w.source_node order by w.source_node) as sources,
                                array_agg(w.boundary::text order by w.source_node) as boundaries
                           from ibex.watermark w where w.ledger_name = x.ledger_name) m on true
     where x.sync_name = p_sync
     order by x.table_schema, x.table_name;
  if not found then
    return query select snap::text, nxt, null::text, null::text, null::text, null::text[], null::boolean, null::smallint,
                        null::timestamptz, null::bigint, null::bigint, null::bigint, null::text, null::text, null::text[], null::text[];
  end if;
end $fn$;

-- Every captured table gets the fold function of this version of the statement.
do $$
declare
  c ibex.capture;
begin
  for c in select * from ibex.capture loop
    perform ibex.write_fold_function(c);
  end loop;
end $$;
