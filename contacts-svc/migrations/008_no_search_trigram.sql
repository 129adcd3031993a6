-- 007's trigram indexes are dropped again: measured on the benchmark (bench/run (a) and (e)),
-- they made every contact write pay two GIN inserts per row. A 10,000-row bulk call's COPY went
-- from ~42 to ~94 ms in PostgreSQL, the bulk API from 0.59 to 0.19 of COPY, imports from
-- 0.53-0.61 to 0.20. Writes are this service's hot path; search is not. A search's cost is
-- bounded instead: pages stop at 10,000 rows deep, the count stops at 10,001, each statement
-- has a statement_timeout, and one organization holds at most its share of the workers.
-- pg_trgm stays installed by scripts/provision-db, for an operator who wants the indexes back.
DROP INDEX IF EXISTS contacts_name_trgm_idx;
DROP INDEX IF EXISTS contacts_phone_trgm_idx;
