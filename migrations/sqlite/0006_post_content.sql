-- The compatible list answers posts with their content and media, as Zernio does: both are kept
-- from the create. Records of before stay readable (NULL: no content, no media).
ALTER TABLE posts ADD COLUMN content TEXT;
ALTER TABLE posts ADD COLUMN media_items TEXT;            -- Zernio's mediaItems, JSON
