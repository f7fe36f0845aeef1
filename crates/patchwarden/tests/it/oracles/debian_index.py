"""Binary packages of a dpkg status file older than a version in a Debian Packages index, by apt_pkg.

Prints one `package` per line. Independent of patchwarden: only python3-apt's own parser and
version comparison are used."""
import sys
import apt_pkg

apt_pkg.init_system()
status, index = sys.argv[1], sys.argv[2]

newest = {}
with apt_pkg.TagFile(index) as tags:
    for section in tags:
        name, version = section["Package"], section["Version"]
        if name not in newest or apt_pkg.version_compare(version, newest[name]) > 0:
            newest[name] = version

with apt_pkg.TagFile(status) as tags:
    for section in tags:
        if section.get("Status", "").split()[-1:] != ["installed"]:
            continue
        name, version = section["Package"], section["Version"]
        if name in newest and apt_pkg.version_compare(version, newest[name]) < 0:
            print(name)
