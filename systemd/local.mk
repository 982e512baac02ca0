# systemd/local.mk: service units, sysusers.d and tmpfiles.d entries and the
# journal message catalog. Included from the top Makefile.am; paths are
# relative to the top of the tree.
#
# The directories come from configure (pkg-config systemd, or --with-...).
# Packagers run systemd-sysusers, systemd-tmpfiles --create and
# journalctl --update-catalog after installing; "make install" does not.

systemdsystemunit_DATA = \
	systemd/pdfspoold.service \
	systemd/pdfspoold@.service

# Installed under the name systemd expects (pdfspool.conf in both
# directories): copies with that name, each in its own build folder.
sysusers_DATA = systemd/sysusers.d/pdfspool.conf
tmpfiles_DATA = systemd/tmpfiles.d/pdfspool.conf
dist_catalog_DATA = systemd/pdfspool.catalog

# @sbindir[@] keeps configure from substituting the pattern in this rule.
systemd_edit = sed \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@libexecdir[@]|$(libexecdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g'

systemd/pdfspoold.service: $(top_srcdir)/systemd/pdfspoold.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(systemd_edit) $(top_srcdir)/systemd/pdfspoold.service.in > $@.tmp && mv -f $@.tmp $@

systemd/pdfspoold@.service: $(top_srcdir)/systemd/pdfspoold@.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(systemd_edit) $(top_srcdir)/systemd/pdfspoold@.service.in > $@.tmp && mv -f $@.tmp $@

systemd/sysusers.d/pdfspool.conf: $(top_srcdir)/systemd/pdfspool.sysusers
	$(AM_V_GEN)$(MKDIR_P) $(@D) && cp $(top_srcdir)/systemd/pdfspool.sysusers $@

systemd/tmpfiles.d/pdfspool.conf: $(top_srcdir)/systemd/pdfspool.tmpfiles
	$(AM_V_GEN)$(MKDIR_P) $(@D) && cp $(top_srcdir)/systemd/pdfspool.tmpfiles $@

EXTRA_DIST += \
	systemd/local.mk \
	systemd/pdfspoold.service.in \
	systemd/pdfspoold@.service.in \
	systemd/pdfspool.sysusers \
	systemd/pdfspool.tmpfiles

CLEANFILES += \
	systemd/pdfspoold.service \
	systemd/pdfspoold@.service \
	systemd/sysusers.d/pdfspool.conf \
	systemd/tmpfiles.d/pdfspool.conf

# "make distcheck" installs below its own prefix: the systemd directories must
# follow that prefix, not point at the system's (configure takes them from
# pkg-config otherwise). The single quotes keep the shell of the distcheck
# rule from expanding ${prefix}; make turns $$ into $.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-sysusersdir='$${prefix}/lib/sysusers.d' \
	--with-tmpfilesdir='$${prefix}/lib/tmpfiles.d' \
	--with-catalogdir='$${prefix}/lib/systemd/catalog'
