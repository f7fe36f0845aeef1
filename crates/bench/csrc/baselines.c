/* The C implementations patchwarden's version ordering is measured against: libdpkg's and librpm's. */
#define LIBDPKG_VOLATILE_API 1
#include <stdlib.h>
#include <dpkg/dpkg.h>
#include <dpkg/dpkg-db.h>
#include <dpkg/version.h>
#include <rpm/rpmver.h>

void *pw_dpkg_parse(const char *text) {
    struct dpkg_version *v = malloc(sizeof *v);
    if (v == NULL || parseversion(v, text, NULL) < 0) { free(v); return NULL; }
    return v;
}

int pw_dpkg_compare(const void *a, const void *b) {
    return dpkg_version_compare(a, b);
}

void *pw_rpm_parse(const char *text) { return rpmverParse(text); }

int pw_rpm_compare(void *a, void *b) { return rpmverCmp(a, b); }
