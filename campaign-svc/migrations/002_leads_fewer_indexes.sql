-- Fewer indexes on leads (issue 11, benchmark (g)): every index costs the start's COPY of an
-- audience and every non-HOT lead update. A 100,000-row COPY into leads took about twice as
-- long with its six indexes as with its primary key alone; each full index cost ~110 ms.
--
--   before                                        after
--   PK (org_id, campaign_id, id)                  leads_campaign (org_id, campaign_id, id)
--   leads_by_status (org_id, campaign_id, status)   INCLUDE (status): both, in one
--   leads_id UNIQUE (id)                          PK (id): the Dialing RPCs find leads by id
--   leads_contact UNIQUE (org_id, campaign_id,    kept (see below)
--     contact_id) WHERE contact_id IS NOT NULL
--   leads_due, leads_leased (partial)             kept
--                                                 leads_in_flight (partial, false at insert)
--
-- leads_campaign serves the campaign's lead list in id order, the progress and report counts
-- by status (index-only) and the cancel/delete/completion scans. The in-flight count of Claim
-- (QUEUED + IN_PROGRESS of one campaign) reads leads_in_flight, whose predicate is false for
-- every row a COPY writes. "No open lead left" is asked as "no due PENDING lead" (leads_due)
-- and "none in flight" (leads_in_flight).
--
-- leads_contact costs ~110 ms of a 100,000-row start and no query reads it, but it is the
-- database's own guarantee of one lead per contact per campaign (a contact never dialed twice
-- by one campaign). The start's snapshot also checks it (contact ids strictly increasing page
-- by page, a campaign started once), but an application check is not a constraint: kept.
CREATE INDEX leads_campaign ON leads (org_id, campaign_id, id) INCLUDE (status);
CREATE INDEX leads_in_flight ON leads (org_id, campaign_id) WHERE status IN ('QUEUED', 'IN_PROGRESS');
ALTER TABLE leads DROP CONSTRAINT leads_pkey;
ALTER TABLE leads ADD CONSTRAINT leads_pkey PRIMARY KEY USING INDEX leads_id;
DROP INDEX leads_by_status;
