# proxy/: see docs/architecture.md.
PROXY_LIB =
