-- V5: a sync never hands out a version-vector ordinal twice. 'ibex sync remove-node' deletes the
-- member row, but the other nodes' version vectors still hold that node's counters: a node added
-- later under the same ordinal would inherit them, and its changes could look already seen. So
-- each sync counts the ordinals it handed out; adding a node takes the next one and advances the
-- counter, and removing a node never lowers it.
alter table ibex.sync add column next_ordinal integer not null default 1;

-- [jooq ignore start] (data, not schema)
update ibex.sync s set next_ordinal = coalesce((select max(n.ordinal) + 1 from ibex.sync_node n where n.sync_name = s.name), 1);
-- [jooq ignore stop]
