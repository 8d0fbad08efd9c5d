-- V3: ledger purging, node retention and resync.

-- purge_interval_ms: how often the engine purges ledger entries that every node holds (0 = every round).
-- node_retention_ms: how long a node may stay unreachable before it is marked as needing a resync.
alter table ibex.sync add column purge_interval_ms bigint not null default 60000;
alter table ibex.sync add column node_retention_ms bigint not null default 604800000;

-- A node marked here is left out of the sync's rounds (and no longer holds back ledger purging)
-- until 'ibex node resync' copies it back from a healthy node.
alter table ibex.sync_node add column resync_needed_since timestamptz;
alter table ibex.sync_node add column resync_reason varchar;
-- When a round last reached the node (the time it joined the sync until one does).
alter table ibex.sync_node add column last_reached_at timestamptz not null default now();

-- A purge in progress: ledger entries (key and version) being deleted from every node of a sync,
-- and the nodes that have not deleted them yet. A purge that a crash or an outage interrupts is
-- finished on the remaining nodes before the next round decides anything, so that no node forgets
-- a version that another node still holds.
create table ibex.ledger_purge (
  id            bigint generated always as identity primary key,
  sync_name     varchar not null references ibex.sync (name) on delete cascade,
  table_schema  varchar not null,
  table_name    varchar not null,
  entries       varchar not null,
  nodes_left    varchar not null,
  created_at    timestamptz not null default now()
);

create index ledger_purge_sync on ibex.ledger_purge (sync_name, id);
