# packaging/: man pages and bash completion generated from the flag table by
# the apigw binary itself (node/flags_doc.c), so they never drift from the
# flags; the systemd unit, Debian packaging (debian/, `make deb`) and the
# Grafana dashboard (packaging/grafana/). docs/packaging.md.
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

EXTRA_DIST += packaging/local.mk packaging/grafana debian

# `make deb`: apigw_<version>_amd64.deb from this tree's `make dist` tarball,
# built by dpkg-buildpackage (debian/) in deb/ of the build tree, never in
# the source tree's parent. DEB_BUILD_OPTIONS passes through (e.g.
# parallel=2). Needs dpkg-dev, debhelper and the Build-Depends.
deb: dist
	rm -rf deb && $(MKDIR_P) deb
	tar -C deb -xzf $(distdir).tar.gz
	cd deb/$(distdir) && dpkg-buildpackage -us -uc -b
	@ls -l deb/*.deb
clean-local: clean-deb
clean-deb:
	rm -rf deb deb.log
.PHONY: deb clean-deb
