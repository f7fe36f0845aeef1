"""Findings of a dpkg status file against Ubuntu OSV records, per source package, by apt_pkg.

Prints `package advisory` per line. A binary package is affected when its source package's version
(from `Source: name (version)`, else its own) is in the record's explicit `versions`, or at or above
an `introduced` and below the matching `fixed`, for the named ecosystem."""
import glob
import json
import sys
import apt_pkg

apt_pkg.init_system()
status, directory, ecosystem = sys.argv[1], sys.argv[2], sys.argv[3]

installed = []
with apt_pkg.TagFile(status) as tags:
    for section in tags:
        if section.get("Status", "").split()[-1:] != ["installed"]:
            continue
        source = section.get("Source", section["Package"])
        source_version = section["Version"]
        if "(" in source:
            source, source_version = source.split("(")
            source, source_version = source.strip(), source_version.strip(" )")
        installed.append((section["Package"], source, source_version))

def in_ranges(version, ranges):
    for r in ranges:
        if r["type"] != "ECOSYSTEM":
            continue
        start = None
        for event in r["events"]:
            if "introduced" in event:
                start = event["introduced"]
            elif "fixed" in event and start is not None:
                if (start == "0" or apt_pkg.version_compare(version, start) >= 0) and apt_pkg.version_compare(version, event["fixed"]) < 0:
                    return True
                start = None
        if start is not None and (start == "0" or apt_pkg.version_compare(version, start) >= 0):
            return True
    return False

for path in sorted(glob.glob(directory + "/*.json")):
    record = json.load(open(path))
    for affected in record["affected"]:
        if affected["package"]["ecosystem"] != ecosystem:
            continue
        for package, source, version in installed:
            if source != affected["package"]["name"]:
                continue
            listed = any(apt_pkg.version_compare(version, v) == 0 for v in affected.get("versions", []))
            if listed or in_ranges(version, affected.get("ranges", [])):
                print(package, record["id"])
