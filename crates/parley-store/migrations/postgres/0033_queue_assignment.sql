-- Pick-from-queue (issue 15, RT-13): a queue either has its waiting sessions offered to agents by
-- routing (`push`, as before) or shown to its members, who take one themselves (`pick`).
ALTER TABLE queues ADD COLUMN assignment TEXT NOT NULL DEFAULT 'push';
