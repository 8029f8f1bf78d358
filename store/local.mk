# store/: see docs/architecture.md. When the module has sources, it builds
# store/libgw_store.a and sets STORE_LIB to it so the binary and tests link it.
STORE_LIB =
