-- Ibex control database: configuration, round history and the conflict journal.
-- varchar without a length is PostgreSQL's text; it keeps jOOQ's DDL-based code generation happy.

create table ibex.node (
  name          varchar primary key,
  url           varchar not null,
  password_env  varchar,
  created_at    timestamptz not null default now()
);

create table ibex.sync (
  name          varchar primary key,
  strategy      varchar not null default 'latest',
  priority      varchar,
  interval_ms   bigint not null default 5000,
  paused        boolean not null default false,
  created_at    timestamptz not null default now()
);

create table ibex.sync_node (
  sync_name     varchar not null references ibex.sync (name) on delete cascade,
  node_name     varchar not null references ibex.node (name),
  ordinal       integer not null,
  primary key (sync_name, node_name),
  unique (sync_name, ordinal)
);

create table ibex.sync_table (
  sync_name     varchar not null references ibex.sync (name) on delete cascade,
  table_schema  varchar not null,
  table_name    varchar not null,
  strategy      varchar,
  paused        boolean not null default false,
  pause_reason  varchar,
  added_at      timestamptz not null default now(),
  primary key (table_schema, table_name)
);

create table ibex.round (
  id            bigint generated always as identity primary key,
  sync_name     varchar not null references ibex.sync (name) on delete cascade,
  started_at    timestamptz not null,
  finished_at   timestamptz not null,
  outcome       varchar not null,
  rows_read     bigint not null default 0,
  rows_applied  bigint not null default 0,
  conflicts     bigint not null default 0,
  node_report   varchar not null default '{}',
  error         varchar
);

create index round_sync_started on ibex.round (sync_name, started_at desc);

create table ibex.sync_state (
  sync_name         varchar primary key references ibex.sync (name) on delete cascade,
  last_error        varchar,
  last_error_at     timestamptz,
  consecutive_fails integer not null default 0,
  node_report       varchar not null default '{}',
  updated_at        timestamptz not null default now()
);

create table ibex.conflict (
  id            bigint generated always as identity primary key,
  sync_name     varchar not null references ibex.sync (name) on delete cascade,
  table_schema  varchar not null,
  table_name    varchar not null,
  row_key       varchar not null,
  strategy      varchar not null,
  winner_node   varchar not null,
  sides         varchar not null,
  decided_at    timestamptz not null default now()
);

create index conflict_sync_decided on ibex.conflict (sync_name, decided_at desc);
