#!/bin/bash
# packaging/debian/control's Build-Depends are exactly the build and deb
# lines of packaging/deps.txt (the repository's one dependency list):
# build-essential is implied by Debian, debhelper-compat is debhelper's, and
# dh-sequence-installsysusers is a Provides of debhelper 13.11.
set -euo pipefail
cd "${VV_SRC:-.}"
want=$(awk '!/^#/ && NF && ($2 == "build" || $2 == "deb") && $1 != "build-essential" {print $1}' \
	packaging/deps.txt | sort -u)
have=$(/usr/bin/python3 - packaging/debian/control <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r'^Build-Depends:(.*?)(?=^\S)', text, re.S | re.M)
if not m:
    sys.exit("packaging/debian/control: no Build-Depends field")
names = set()
for dep in m.group(1).split(','):
    name = re.sub(r'[\s(\[<].*', '', dep.strip(), flags=re.S)
    if not name:
        continue
    if name == 'debhelper-compat':
        name = 'debhelper'
    elif name.startswith('dh-sequence-'):
        continue
    names.add(name)
print('\n'.join(sorted(names)))
PY
)
if [ "$want" != "$have" ]; then
	echo "packaging/debian/control Build-Depends and packaging/deps.txt (build, deb) differ:"
	diff <(echo "$want") <(echo "$have") | sed 's/^</  deps.txt only:/; s/^>/  control only:/'
	exit 1
fi
# The package's version is the programs' (include/varvault/core.h).
v=$(sed -n 's/^#define VV_VERSION "\(.*\)"/\1/p' include/varvault/core.h)
c=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [ "$v" != "$c" ]; then
	echo "packaging/debian/changelog is version $c, include/varvault/core.h VV_VERSION is $v"
	exit 1
fi
echo "Build-Depends match packaging/deps.txt ($(echo "$want" | wc -l) packages); version $v"
