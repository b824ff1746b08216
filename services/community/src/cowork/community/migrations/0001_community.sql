-- The community service's own tables start in the migrations after this one: meetings (0002),
-- expressions of interest (0003), statistics (0004). The outbox, inbox and jobs come from
-- cowork.shared's migrations.
SELECT 1;
