-- V6: how far the other nodes have applied this node's changes, and the wait that reads it (ADR 0006).
--
-- The owner engine writes a row per sync and other member at the end of each round that reached
-- this node: the snapshot of this node's fold in that round when the round brought that member up
-- to date with everything the fold took, and otherwise keeps the row as it was (a new member's row
-- starts with no snapshot). A snapshot never moves back.
--
-- Unlogged: it is written every round and must cost no WAL and no commit flush. After a crash of
-- this server it is empty until the next round writes it again, so a wait then lasts a round
-- longer; it never says a node has a change that it has not applied.

create unlogged table ibex.applied (
  sync_name    text not null,
  target_node  text not null,
  snapshot     pg_snapshot,
  updated_at   timestamptz not null default now(),
  primary key (sync_name, target_node)
);

-- True when every transaction that had committed when p_earlier was taken had committed when
-- p_later was taken too.
create function ibex.snapshot_covers(p_later pg_snapshot, p_earlier pg_snapshot) returns boolean
language sql immutable as $$
  select pg_catalog.pg_snapshot_xmax(p_later) operator(pg_catalog.>=) pg_catalog.pg_snapshot_xmax(p_earlier)
     and not exists (select 1 from pg_catalog.pg_snapshot_xip(p_later) x
                      where pg_catalog.pg_visible_in_snapshot(x, p_earlier))
$$;

-- The other nodes that have applied every change of the given syncs that this node had committed
-- when p_since was taken: those whose row of each of these syncs they belong to covers it. None
-- while a sync has no row yet (its members are not known here before its first round).
create function ibex.replicated_nodes(p_syncs text[], p_since pg_snapshot) returns text[]
language sql stable as $$
  select coalesce(pg_catalog.array_agg(r.target_node order by r.target_node), '{}')
    from (select a.target_node
            from ibex.applied a
           where a.sync_name operator(pg_catalog.=) any (p_syncs)
           group by a.target_node
          having pg_catalog.bool_and(a.snapshot is not null and ibex.snapshot_covers(a.snapshot, p_since))) r
   where not exists (select 1 from pg_catalog.unnest(p_syncs) s(name)
                      where not exists (select 1 from ibex.applied x where x.sync_name operator(pg_catalog.=) s.name))
$$;

-- Called by an application after a commit: waits until everything committed on this node before
-- the call has been applied on at least min_nodes other nodes of the syncs that capture this node,
-- or until the timeout, and returns how many other nodes have it (raises instead of returning
-- fewer than min_nodes when strict). Wakes the engine through the syncs' change counters, as
-- capture does; takes no lock that blocks a writer; returns within its timeout whatever the engine
-- and the other nodes do. Security definer: a role needs only EXECUTE on it and USAGE on schema ibex.
create function ibex.wait_replicated(min_nodes integer default 1, timeout interval default '5s',
                                     strict boolean default false)
returns integer language plpgsql volatile security definer set search_path = pg_catalog, pg_temp as $$
declare
  since    pg_snapshot := pg_current_snapshot();
  started  timestamptz := clock_timestamp();
  syncs    text[];
  have     integer := 0;
  seq      text;
begin
  if min_nodes is null or min_nodes < 0 or timeout is null or timeout < interval '0' then
    raise exception 'ibex.wait_replicated: min_nodes must be 0 or more and timeout not negative; got % and %',
      coalesce(min_nodes::text, 'null'), coalesce(timeout::text, 'null') using errcode = '22023';
  end if;
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'ibex.wait_replicated needs READ COMMITTED; this transaction is %: call it in a transaction of its own',
      upper(current_setting('transaction_isolation')) using errcode = '25000';
  end if;
  if pg_current_xact_id_if_assigned() is not null then
    raise exception 'ibex.wait_replicated waits for committed changes: call it after COMMIT, in a transaction of its own'
      using errcode = '25001';
  end if;
  select array_agg(distinct c.sync_name) into syncs from ibex.capture c;
  if syncs is null then
    if strict and min_nodes > 0 then
      raise exception 'ibex.wait_replicated: no sync replicates this database' using errcode = 'IBW01';
    end if;
    return 0;
  end if;
  -- a change counter that moves wakes the engine, as a captured statement does
  for seq in select distinct c.changes_seq from ibex.capture c where c.changes_seq is not null loop
    perform nextval(format('%I.%I', 'ibex', seq)::regclass);
  end loop;
  loop
    have := coalesce(array_length(ibex.replicated_nodes(syncs, since), 1), 0);
    exit when have >= min_nodes or clock_timestamp() - started >= timeout;
    -- a round takes tens of milliseconds: look every 4 ms for the first 200 ms, then every 25 ms
    perform pg_sleep(greatest(0, least(case when clock_timestamp() - started < interval '200 ms' then 0.004 else 0.025 end,
                                       extract(epoch from timeout - (clock_timestamp() - started)))));
  end loop;
  if strict and have < min_nodes then
    raise exception 'ibex.wait_replicated: % of % other node(s) applied this node''s changes within %', have, min_nodes, timeout
      using errcode = 'IBW01', hint = 'ibex status shows which nodes lag and whether the engine runs';
  end if;
  return have;
end $$;

revoke all on function ibex.wait_replicated(integer, interval, boolean) from public;
