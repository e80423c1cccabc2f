"""API callers (接入系统): external systems calling /ext/api with a bearer token or SM2 signature.

- `gate`: who is calling and may they (signature, timestamp window, nonce, status, rate);
- `grants`: the Principal a caller acts as (its role's grants, scope `all` by default);
- `limits`: per-minute call counters (in-process, or Redis when REDIS_URL is set);
- `middleware`: the ASGI middleware on /ext that refuses, authenticates and logs;
- `routes`: the /ext/api router; `keys`: key pairs and tokens for the CLI.
Protocol and client example: docs/api-signing.md.
"""
