-- A single instance keeps its budget slots and content claims in memory and rebuilds them on
-- start from the posts of the last day: the slots table is no longer written, and the posts
-- need an index by time for that rebuild (it only ever grows at its end).
CREATE INDEX IF NOT EXISTS posts_by_time ON posts (created_at);
DROP TABLE IF EXISTS post_slots;
