# packaging/: man pages and bash completion generated from the flag table by
# the apigw binary itself (node/flags_doc.c), so they never drift from the
# flags; docs/packaging.md.
nodist_man1_MANS = packaging/apigw.1
nodist_man5_MANS = packaging/apigw.json.5
bashcompdir = $(datadir)/bash-completion/completions
nodist_bashcomp_DATA = packaging/completion/apigw
PKG_GENERATED = $(nodist_man1_MANS) $(nodist_man5_MANS) $(nodist_bashcomp_DATA)
CLEANFILES += $(PKG_GENERATED)

packaging/apigw.1: apigw$(EXEEXT)
	@$(MKDIR_P) packaging
	$(AM_V_GEN)./apigw$(EXEEXT) help --man 1 > $@.tmp && mv $@.tmp $@
packaging/apigw.json.5: apigw$(EXEEXT)
	@$(MKDIR_P) packaging
	$(AM_V_GEN)./apigw$(EXEEXT) help --man 5 > $@.tmp && mv $@.tmp $@
packaging/completion/apigw: apigw$(EXEEXT)
	@$(MKDIR_P) packaging/completion
	$(AM_V_GEN)./apigw$(EXEEXT) completion bash > $@.tmp && mv $@.tmp $@

# Generated with the binary at `make` time (not only at install), so the
# tests read them from the build tree.
all-local: $(PKG_GENERATED)

EXTRA_DIST += packaging/local.mk
