"""Data feeds (module key `feeds:`): inbound push APIs and outbound pushes after commit.

- `inbound`: /ext/feeds/<name> (POST create, PUT update/upsert, DELETE delete; one record or a
  list), behind the API-caller gate, written through EntityService (scope, checks, encryption,
  operation log) with per-record results;
- `outbox`: the after-write hook EntityService calls inside its transaction: one delivery row
  per outbound feed and target, so a rolled-back write leaves none;
- `dispatcher`: delivers committed rows with httpx, retries with backoff, dead letters;
- `targets`: app.yaml `feed_targets` with ${ENV} substitution.
The delivery screen 推送记录 and its 重新推送 action live in specs/system/feeds.yaml.
"""
