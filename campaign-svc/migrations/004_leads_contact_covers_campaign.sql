-- One index fewer on leads (issue 11, benchmark (g)): leads_contact also serves what
-- leads_campaign served, and leads_campaign goes.
--
-- Every full index on leads costs a campaign start ~100 ms of COPY per 100,000 leads (measured:
-- backend CPU of ten 10,000-row COPYs in one transaction, 0.55 s with the indexes of 003, 0.45 s
-- with these; a table with its primary key alone 0.22 s), and every non-HOT lead update (each
-- status change) one more index entry. leads_campaign (org_id, campaign_id, id) INCLUDE (status)
-- and leads_contact (org_id, campaign_id, contact_id) both began with the campaign; one index
-- keyed (org_id, campaign_id, contact_id) and carrying id and status serves:
--   - one lead per contact per campaign: still UNIQUE on the same three columns. It is no longer
--     partial: uploaded leads (contact_id NULL) are in it too, and NULLs are distinct, so they
--     never conflict; the guarantee for contacts is exactly the one of 001/003;
--   - the progress and report counts by status, the campaign's lead count, the cancel, delete and
--     completion scans: a range of (org_id, campaign_id), index-only where status/id suffice;
--   - the lead list in id order: its ids are read index-only and sorted (a top-N sort over the
--     campaign's entries, ~25-45 ms at 100,000 leads, where leads_campaign read the page
--     directly), then fetched by primary key (leads.c).
-- On an existing database the new index is built under the old one's guarantee (no duplicate
-- contact in a campaign can exist), then takes its name.
CREATE UNIQUE INDEX leads_contact_campaign ON leads (org_id, campaign_id, contact_id)
    INCLUDE (id, status);
DROP INDEX leads_contact;
ALTER INDEX leads_contact_campaign RENAME TO leads_contact;
DROP INDEX leads_campaign;
