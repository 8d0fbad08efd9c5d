-- V5: the epoch of each sync's owner engine, as this node last saw it (ADR 0005).
--
-- The owner raises it once when it takes the sync (ibex.take_fence); every transaction that
-- writes on behalf of the sync checks it first (ibex.fence), holding a row lock that keeps it
-- from moving until the transaction ends. An engine that lost the sync finds a higher epoch here
-- and commits nothing.

create table ibex.sync_fence (
  sync_name  text primary key,
  epoch      bigint not null
);

create function ibex.fence_name(p_sync text, p_epoch bigint) returns text
language sql immutable as $$
  select 'ibex fence ' || left(md5(p_sync), 16) || ' ' || p_epoch
$$;

create function ibex.fence(p_sync text, p_epoch bigint) returns void
language plpgsql as $$
declare
  current_epoch bigint;
begin
  select f.epoch into current_epoch from ibex.sync_fence f where f.sync_name = p_sync for share;
  if current_epoch is distinct from p_epoch then
    raise exception using errcode = 'IBF01',
      message = format('fenced: sync %s is at epoch %s on this node, this engine holds epoch %s', p_sync,
                       coalesce(current_epoch::text, '(none)'), p_epoch);
  end if;
  perform pg_catalog.set_config('application_name', ibex.fence_name(p_sync, p_epoch), true);
end $$;

-- Raises the sync's epoch to p_epoch (never lowers it) and returns the epoch the node holds now.
-- Waits for the transactions of older epochs that hold the row; the caller ends those it finds
-- (by their application_name) when it waits too long.
create function ibex.take_fence(p_sync text, p_epoch bigint) returns bigint
language plpgsql as $$
declare
  now_epoch bigint;
begin
  insert into ibex.sync_fence as f (sync_name, epoch) values (p_sync, p_epoch)
    on conflict (sync_name) do update set epoch = excluded.epoch where f.epoch < excluded.epoch;
  select f.epoch into now_epoch from ibex.sync_fence f where f.sync_name = p_sync;
  return now_epoch;
end $$;
