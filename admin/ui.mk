# The dashboard (admin/ui/, docs/dashboard.md): plain HTML, CSS and ES
# modules, embedded into the binary at build time by admin/ui/embed.sh as
# admin/ui_assets.c (raw + gzip -9n bytes, an ETag each); apisix_ui.c
# serves them at /ui/ on the Admin listener. Add a new file to UI_FILES.
UI_FILES = index.html app.css \
	js/main.js js/api.js js/dom.js js/login.js js/cluster.js js/config.js js/form.js \
	js/history.js js/health.js js/chart.js
ADMIN_SOURCES += admin/apisix_ui.h admin/apisix_ui.c
nodist_admin_libgw_admin_a_SOURCES += admin/ui_assets.c
BUILT_SOURCES += admin/ui_assets.c
CLEANFILES += admin/ui_assets.c
EXTRA_DIST += admin/ui/embed.sh $(UI_FILES:%=admin/ui/%)

admin/ui_assets.c: $(srcdir)/admin/ui/embed.sh $(UI_FILES:%=$(srcdir)/admin/ui/%)
	$(AM_V_GEN)$(MKDIR_P) admin && \
	$(SHELL) $(srcdir)/admin/ui/embed.sh $(srcdir)/admin/ui $@ $(UI_FILES)
