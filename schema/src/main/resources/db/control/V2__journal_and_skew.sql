-- V2: manual conflicts (open until an operator resolves them), journal retention, clock-skew bound.

alter table ibex.sync add column journal_retention_ms bigint not null default 2592000000;
alter table ibex.sync add column max_clock_skew_ms bigint not null default 1000;

-- status: decided (a strategy chose), open (held for an operator), resolved (an operator chose;
-- the next round applies it), applied (a round applied the operator's choice).
alter table ibex.conflict add column status varchar not null default 'decided';
alter table ibex.conflict alter column winner_node drop not null;
-- the operator's choice: {"row": {...} | null, "covers": [version]}, who chose and when
alter table ibex.conflict add column resolution varchar;
alter table ibex.conflict add column resolved_by varchar;
alter table ibex.conflict add column resolved_at timestamptz;

create unique index conflict_one_open_per_key on ibex.conflict (sync_name, table_schema, table_name, row_key)
  where status in ('open', 'resolved');
create index conflict_decided on ibex.conflict (decided_at);
