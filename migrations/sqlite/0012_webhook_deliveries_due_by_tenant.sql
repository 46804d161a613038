-- Due deliveries by tenant: the worker leases each tenant's oldest due deliveries within its
-- share (a skip scan over the tenants, then a seek per tenant), so that one tenant's backlog
-- never holds back another's delivery.
CREATE INDEX IF NOT EXISTS webhook_deliveries_due_by_tenant
    ON webhook_deliveries (status, tenant, next_attempt_at);
