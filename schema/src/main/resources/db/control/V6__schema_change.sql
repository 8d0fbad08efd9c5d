-- V6: schema changes committed with two-phase commit ('ibex schema apply', ADR 0007).
--
-- One row per change whose transactions are, or may be, prepared on the sync's nodes, written
-- before the first PREPARE TRANSACTION and deleted once every node committed or rolled back. The
-- state says what a later 'ibex schema apply' does with a transaction still prepared on a node:
-- 'preparing' (not every node had prepared: roll back) or 'committing' (every node had prepared:
-- commit). The tables are those the change paused, resumed once it is resolved.
create table ibex.schema_change (
  gid         varchar primary key,
  sync_name   varchar not null references ibex.sync (name) on delete cascade,
  script      text not null,
  paused      text[] not null,
  state       varchar not null,
  started_at  timestamptz not null default now()
);
