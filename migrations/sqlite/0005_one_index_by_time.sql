-- Every insert into posts paid for two indexes by time: the start-up rebuild of budgets now
-- reads the last day per tenant through posts_by_tenant (tenant, created_at DESC, id DESC),
-- so posts_by_time is one page write per create for nothing.
DROP INDEX IF EXISTS posts_by_time;
