create schema shop;
create table shop.customer (
  id         uuid primary key,
  name       text not null,
  city       text,
  balance    numeric(12,2) not null default 0,
  updated_at timestamptz not null default now()
);
create table shop."Order Line" (
  order_id   bigint,
  line       integer,
  sku        text not null,
  qty        integer not null,
  primary key (order_id, line)
);
