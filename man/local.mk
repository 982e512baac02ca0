# man/local.mk: the manual pages. Included from the top Makefile.am; paths are
# relative to the top of the tree. The pages are written by hand (man(7)
# macros); check them with "mandoc -Tlint" and "groff -ww -z -man".
dist_man_MANS = \
	man/pdfspoold.8 \
	man/pdfspoolctl.1 \
	man/pdfspool.yaml.5 \
	man/pdfspool-status.5

EXTRA_DIST += man/local.mk
