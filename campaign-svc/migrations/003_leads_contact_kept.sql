-- 002 dropped leads_contact in a draft that some development databases applied; it is the
-- database's guarantee of one lead per contact per campaign, so it stays (see 002).
CREATE UNIQUE INDEX IF NOT EXISTS leads_contact ON leads (org_id, campaign_id, contact_id)
    WHERE contact_id IS NOT NULL;
