-- A scheduled post counts in the daily budget at its schedule time, which may be days after its
-- creation: the start-up rebuild of budgets finds such posts by that time. Partial, so a post
-- published at once costs the index nothing.
CREATE INDEX IF NOT EXISTS posts_by_schedule ON posts (schedule_at) WHERE schedule_at IS NOT NULL;
