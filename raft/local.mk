# raft/: see docs/architecture.md.
RAFT_LIB =
