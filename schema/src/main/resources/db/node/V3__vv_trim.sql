-- V3: a version vector in its canonical form (trailing zero counters removed), so that the engine
-- can match a ledger version exactly when it purges entries that every node holds.
create or replace function ibex.vv_trim(vv bigint[]) returns bigint[]
language sql immutable parallel safe as $$
  select coalesce(vv[1:(select max(i) from generate_subscripts(vv, 1) as i where vv[i] <> 0)], '{}'::bigint[])
$$;
