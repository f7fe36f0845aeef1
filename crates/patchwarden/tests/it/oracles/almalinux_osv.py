"""Findings of `rpm -qa` rows (no module label) against AlmaLinux OSV in all.zip, by rpm's labelCompare.

Prints `package advisory` per line. Every AlmaLinux range is `introduced: 0` then `fixed`; an erratum
that lists one package several times lists alternative builds of one fix (one per minor release),
so a package is affected when it is below every non-module fix listed for it in that erratum."""
import json
import sys
import zipfile
import rpm

rows, archive, release = sys.argv[1], sys.argv[2], sys.argv[3]

def evr(text):
    epoch, _, rest = text.rpartition(":")
    version, _, release = rest.rpartition("-")
    return (epoch or "0", version, release)

installed = []
for line in open(rows):
    name, version, _arch, _source, module = line.rstrip("\n").split("\t")
    if module == "(none)":
        installed.append((name, version))

records = {}
with zipfile.ZipFile(archive) as z:
    for member in sorted(z.namelist()):
        if member.endswith(".json"):
            record = json.loads(z.read(member))
            known = records.get(record["id"])
            if known is None or record["modified"] > known["modified"]:
                records[record["id"]] = record

ecosystem = "AlmaLinux:" + release
for record in records.values():
    fixes = {}
    for affected in record["affected"]:
        if affected["package"]["ecosystem"] != ecosystem:
            continue
        for r in affected["ranges"]:
            events = r["events"]
            assert events[0] == {"introduced": "0"} and len(events) == 2, record["id"]
            fixed = events[1]["fixed"]
            if ".module_" not in fixed and ".module+" not in fixed:
                fixes.setdefault(affected["package"]["name"], []).append(fixed)
    for name, version in installed:
        listed = fixes.get(name)
        if listed and all(rpm.labelCompare(evr(version), evr(f)) < 0 for f in listed):
            print(name, record["id"])
