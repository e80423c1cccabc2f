"""The running app: its context (model, engine, caches), the Litestar factory and the ASGI entry point."""
