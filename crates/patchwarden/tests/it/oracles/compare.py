"""Compares `A B` pairs from a file with the distribution's own code and prints <, = or > per line.

`deb` uses python3-apt's apt_pkg.version_compare (apt's C++ implementation)."""
import sys
import apt_pkg

apt_pkg.init_system()
out = []
for line in open(sys.argv[1]):
    a, b = line.split()
    c = apt_pkg.version_compare(a, b)
    out.append("<" if c < 0 else ">" if c > 0 else "=")
print("\n".join(out))
