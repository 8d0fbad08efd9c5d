-- V4: sync ownership and fencing, and the engines that run syncs (ADR 0005).
--
-- Each sync has at most one owner engine at a time. An engine takes a sync by raising its epoch
-- (an integer that only grows); every transaction that writes on behalf of the sync, on the
-- control database or on a node, first checks that the epoch it holds is still the sync's
-- (ibex.fence), so that an engine that lost the sync (crashed, cut off, paused) commits nothing
-- afterwards.

alter table ibex.sync add column epoch bigint not null default 0;
-- Epochs come from one sequence, so that a sync removed and added again under the same name starts
-- above every epoch its nodes may still hold from before.
create sequence ibex.sync_epoch;
alter table ibex.sync add column owner_engine varchar;
alter table ibex.sync add column owner_since timestamptz;
alter table ibex.sync add column fence_rejections bigint not null default 0;
alter table ibex.sync add column last_fence_rejection varchar;
alter table ibex.sync add column last_fence_rejection_at timestamptz;

-- Every engine that ran against this control database, as it last said of itself: what
-- 'ibex engines' lists, so that it answers even when no engine is reachable. An engine whose
-- heartbeat is old has stopped or cannot reach the control database.
create table ibex.engine (
  name          varchar primary key,
  address       varchar,
  state         varchar not null,
  version       varchar not null,
  pid           bigint,
  started_at    timestamptz not null,
  heartbeat_at  timestamptz not null,
  syncs_owned   integer not null default 0
);

-- [jooq ignore start] (jOOQ's code generator cannot parse PL/pgSQL; nothing here is a table)
-- The check every writing transaction makes: the sync is still at the epoch the engine took it
-- with. The row lock (FOR SHARE) keeps the epoch from moving until the transaction ends, so a
-- commit either precedes a takeover or fails. The transaction names itself by sync and epoch in
-- application_name, so that a new owner can end a stale owner's transactions that would hold it up.
create function ibex.fence(p_sync varchar, p_epoch bigint) returns void
language plpgsql as $$
declare
  current_epoch bigint;
begin
  select s.epoch into current_epoch from ibex.sync s where s.name = p_sync for share;
  if current_epoch is distinct from p_epoch then
    raise exception using errcode = 'IBF01',
      message = format('fenced: sync %s is at epoch %s, this engine holds epoch %s', p_sync,
                       coalesce(current_epoch::text, '(removed)'), p_epoch);
  end if;
  perform pg_catalog.set_config('application_name', ibex.fence_name(p_sync, p_epoch), true);
end $$;

-- How a fenced transaction or round lock names itself: short enough for application_name (63 bytes).
create function ibex.fence_name(p_sync varchar, p_epoch bigint) returns varchar
language sql immutable as $$
  select 'ibex fence ' || left(md5(p_sync), 16) || ' ' || p_epoch
$$;
-- [jooq ignore stop]
