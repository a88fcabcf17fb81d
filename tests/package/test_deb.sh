#!/bin/bash
# The Debian package, installed for real into a Debian 12 root made with
# debootstrap (a chroot: no systemd is booted, so the units are enabled but
# never started, as on any image build):
#   1. `make deb` twice: the tree as it is (version V) and the previous
#      commit built as V~pre (the older package of the upgrade step; this
#      tree renamed where the clone lacks a previous commit with packaging/);
#   2. install V~pre with apt (its Depends come from the Debian mirror):
#      files, owners, modes, conffiles, the user and groups, the enabled
#      units, the keys that postinst's `varvault-admin init` made;
#   3. upgrade to V: keys and appliance.pub unchanged, init not run again;
#   4. varvaultd runs as the varvault user, with the installed configuration
#      and the unit's environment (UMask, LimitCORE, no capabilities, no new
#      privileges), its socket passed by systemd-socket-activate with the
#      socket unit's owner, group and mode; a member of varvault-clients
#      submits the demo VCF and reads the result; a user outside the group
#      cannot connect;
#   5. remove: programs gone, configuration and state kept;
#   6. purge (debconf default): configuration gone, /var/lib/varvault kept
#      and named; install again and purge with the removal asked for: the
#      state is gone, and once the dependencies are autoremoved nothing the
#      package made is left (piuparts' install/upgrade/purge steps,
#      scripted).
# Needs root (chroot, mounts) and, the first time, Debian's mirror (the
# minbase root is cached as build/deb-root/bookworm.tar, the downloaded
# .debs in build/deb-root/archives).  tests/run.sh runs it last, as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
MIRROR=${VV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=$TOP/build/deb-root
W=$TOP/build/deb-test
R=$W/root
fail() { echo "FAIL: $*"; exit 1; }
say() { echo "== $* ($((SECONDS))s)"; }

[ "$(id -u)" -eq 0 ] || { echo "needs root (chroot, mount)"; exit 77; }
for t in debootstrap dpkg-buildpackage lintian unshare; do
	command -v "$t" >/dev/null || fail "$t missing (packaging/deps.txt: make deps)"
done

# Everything below runs in a mount namespace of its own, so that the
# chroot's /proc, /dev and /run go away with it whatever happens.
if [ -z "${VV_DEB_NS:-}" ]; then
	exec env VV_DEB_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi

say "1. make deb (V) and make deb DEB_VERSION=V~pre"
V=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
ARCH=$(dpkg-architecture -q DEB_HOST_ARCH)
rm -rf "$W/root"
mkdir -p "$W/debs"
# VV_DEB_REUSE=1 (by hand, while working on the steps below) keeps the two
# packages of the previous run.
if [ "${VV_DEB_REUSE:-0}" = 1 ] && [ -f "$W/debs/varvault_${V}~pre_${ARCH}.deb" ] &&
	[ -f "$W/debs/varvault_${V}_${ARCH}.deb" ]; then
	echo "reusing $W/debs (VV_DEB_REUSE=1)"
else
	rm -f "$W"/debs/*
	# The older package is a build of the previous commit where the clone
	# has it and it already had the package (a shallow clone, or the
	# commit that added packaging/, falls back to this tree renamed).
	pre_tree=.
	if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1 &&
		git cat-file -e 'HEAD~1:packaging/make-deb.sh' 2>/dev/null; then
		pre_tree=$W/prev
		git worktree remove --force "$pre_tree" >/dev/null 2>&1 || rm -rf "$pre_tree"
		git worktree prune
		git worktree add -q --detach "$pre_tree" HEAD~1 || fail "git worktree add HEAD~1"
		echo "the older package: the previous commit $(git rev-parse --short HEAD~1)"
	else
		echo "the older package: this tree as $V~pre (no previous commit with packaging/ in this clone)"
	fi
	(cd "$pre_tree" && make --no-print-directory deb DEB_VERSION="$V~pre") >"$W/make-deb-pre.log" 2>&1 ||
		{ tail -n 30 "$W/make-deb-pre.log"; fail "make deb DEB_VERSION=$V~pre"; }
	mv "$pre_tree/build/varvault_${V}~pre_${ARCH}.deb" "$W/debs/"
	rm -f "$pre_tree/build/varvault-dbgsym_${V}~pre_${ARCH}.deb"
	if [ "$pre_tree" != . ]; then
		git worktree remove --force "$pre_tree"
	fi
	make --no-print-directory deb >"$W/make-deb.log" 2>&1 || { tail -n 30 "$W/make-deb.log"; fail "make deb"; }
	cp "build/varvault_${V}_${ARCH}.deb" "$W/debs/"
	[ -f "build/varvault-dbgsym_${V}_${ARCH}.deb" ] || fail "make deb left no -dbgsym"
	grep -q '^lintian: no errors, no warnings' "$W/make-deb.log" || fail "lintian: $(tail -n 5 "$W/make-deb.log")"
	echo "built varvault_${V}~pre and varvault_${V}; lintian clean"
fi

say "2. a Debian 12 root (debootstrap minbase, cached in $CACHE)"
mkdir -p "$CACHE/archives/partial"
if [ ! -f "$CACHE/bookworm.tar" ]; then
	rm -rf "$CACHE/new"
	debootstrap --variant=minbase bookworm "$CACHE/new" "$MIRROR" >"$W/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$W/debootstrap.log"; fail "debootstrap bookworm $MIRROR"; }
	rm -f "$CACHE/new/var/cache/apt/archives/"*.deb
	tar -C "$CACHE/new" -cf "$CACHE/bookworm.tar.tmp" .
	mv "$CACHE/bookworm.tar.tmp" "$CACHE/bookworm.tar"
	rm -rf "$CACHE/new"
fi
mkdir -p "$R"
tar -C "$R" -xf "$CACHE/bookworm.tar"
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=0755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
mount --bind "$CACHE/archives" "$R/var/cache/apt/archives"
cp "$W"/debs/varvault_*.deb "$R/tmp/"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
# What a bare root holds, to compare with what is left after the purge.
snapshot() {
	(cd "$R" && find . -xdev \( -path ./proc -o -path ./tmp -o -path ./run -o -path ./dev \
		-o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o -path ./var/log \
		-o -path ./var/lib/systemd/deb-systemd-helper-enabled \) -prune -o -print | sort)
}
in_root apt-get update -q >"$W/apt-update.log" 2>&1 || { tail -n 20 "$W/apt-update.log"; fail "apt-get update"; }
snapshot >"$W/before.txt"

say "3. install varvault $V~pre"
in_root apt-get install -y -q --no-install-recommends "/tmp/varvault_${V}~pre_${ARCH}.deb" >"$W/install.log" 2>&1 ||
	{ tail -n 40 "$W/install.log"; fail "apt-get install varvault $V~pre"; }
grep -q 'appliance created in /var/lib/varvault' "$W/install.log" || fail "postinst did not make the appliance"
[ "$(in_root dpkg-query -W -f='${Version}' varvault)" = "$V~pre" ] || fail "installed version"

# mode owner group path
check() {
	local want="$1 $2 $3" got
	# stat in the root: its passwd and group name the owners.
	got=$(in_root stat -c '%a %U %G' "$4" 2>/dev/null) || fail "$4 missing"
	[ "$got" = "$want" ] || fail "$4 is $got, expected $want"
}
check 755 root root /usr/sbin/varvaultd
check 755 root root /usr/sbin/varvault-admin
check 755 root root /usr/bin/varvault
check 644 root root /etc/varvault/varvaultd.conf
check 644 root root /etc/varvault/access.conf
check 644 root root /etc/varvault/evidence.conf
check 644 root root /etc/varvault/appliance.pub
check 644 root root /lib/systemd/system/varvaultd.service
check 644 root root /lib/systemd/system/varvaultd.socket
check 644 root root /usr/lib/sysusers.d/varvault.conf
check 644 root root /usr/lib/tmpfiles.d/varvault.conf
check 644 root root /etc/apparmor.d/usr.sbin.varvaultd
check 644 root root /usr/share/bash-completion/completions/varvault
check 644 root root /usr/share/man/man8/varvaultd.8.gz
check 644 root root /usr/share/varvault/models/demo-dna-mlm/model.safetensors
check 644 root root /usr/share/varvault/demo/sample.vcf
check 700 varvault varvault /var/lib/varvault
check 700 varvault varvault /var/lib/varvault/keys
# Every file under the state folder is the daemon's and writable by it
# alone; the secret ones are readable by it alone (certificates, the CRL and
# public keys such as keys/audit.pub are public, and sit behind the folder's 0700 anyway).
other=$(in_root find /var/lib/varvault \( ! -user varvault -o ! -group varvault -o -perm /0022 \) \
	-printf '%M %u %p\n' | head -n 5)
[ -z "$other" ] || fail "state files not varvault's own or writable by others: $other"
open=$(in_root find /var/lib/varvault -type f ! -name '*.crt' ! -name '*.pem' ! -name '*.json' ! -name '*.pub' -perm /0077 \
	-printf '%M %p\n' | head -n 5)
[ -z "$open" ] || fail "secret state files readable by others: $open"
conff=$(in_root dpkg-query -W -f='${Conffiles}\n' varvault | awk 'NF {print $1}' | sort | tr '\n' ' ')
for f in /etc/varvault/varvaultd.conf /etc/varvault/access.conf /etc/varvault/evidence.conf \
	/etc/apparmor.d/usr.sbin.varvaultd; do
	case " $conff" in *" $f "*) ;; *) fail "$f is not a conffile (conffiles: $conff)" ;; esac
done
pw=$(in_root getent passwd varvault) || fail "no user varvault"
IFS=: read -r _ _ vuid _ _ vhome vshell <<<"$pw"
[ "$vuid" -lt 1000 ] || fail "varvault is uid $vuid, not a system user"
[ "$vhome" = /var/lib/varvault ] && [ "$vshell" = /usr/sbin/nologin ] || fail "varvault user: $pw"
in_root getent group varvault-clients >/dev/null || fail "no group varvault-clients"
[ -L "$R/etc/systemd/system/sockets.target.wants/varvaultd.socket" ] || fail "varvaultd.socket not enabled"
[ -L "$R/etc/systemd/system/multi-user.target.wants/varvaultd.service" ] || fail "varvaultd.service not enabled"
keysum() { (cd "$R/var/lib/varvault" && find keys ca -type f -print0 | sort -z | xargs -0 sha256sum); }
keys_before=$(keysum)
pub_before=$(sha256sum <"$R/etc/varvault/appliance.pub")
[ -n "$keys_before" ] || fail "no keys in /var/lib/varvault"
echo "files, owners, modes, conffiles, user varvault (uid $vuid), group varvault-clients, units enabled"

say "4. upgrade to varvault $V"
echo "# a local edit" >>"$R/etc/varvault/evidence.conf"
in_root apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold \
	"/tmp/varvault_${V}_${ARCH}.deb" >"$W/upgrade.log" 2>&1 ||
	{ tail -n 40 "$W/upgrade.log"; fail "apt-get install varvault $V (upgrade)"; }
[ "$(in_root dpkg-query -W -f='${Version}' varvault)" = "$V" ] || fail "upgraded version"
! grep -q 'appliance created' "$W/upgrade.log" || fail "the upgrade ran varvault-admin init again"
[ "$(keysum)" = "$keys_before" ] || fail "the upgrade changed the keys"
[ "$(sha256sum <"$R/etc/varvault/appliance.pub")" = "$pub_before" ] || fail "the upgrade changed appliance.pub"
grep -q '^# a local edit' "$R/etc/varvault/evidence.conf" || fail "the upgrade lost a local conffile edit"
check 700 varvault varvault /var/lib/varvault
echo "upgrade kept the keys, appliance.pub and a local conffile edit"

say "5. varvaultd as varvault, socket-activated; the demo VCF from a member of varvault-clients"
in_root useradd -m -G varvault-clients labuser
in_root useradd -m outsider
in_root varvault-admin client issue --config /etc/varvault/varvaultd.conf --name lab-test \
	--role submitter -o /home/labuser/vv >"$W/issue.log" 2>&1 || { cat "$W/issue.log"; fail "client issue"; }
in_root chown -R labuser:labuser /home/labuser/vv
# The operator's step after issuing as root (README: issuing client
# certificates): whatever issue wrote in the state folder is the daemon's.
in_root chown -R varvault:varvault /var/lib/varvault
# The unit's environment: User=varvault, UMask=0077, LimitCORE=0,
# CapabilityBoundingSet= (empty), NoNewPrivileges=yes, WatchdogSec=30s
# (WATCHDOG_USEC), the socket owned varvault:varvault-clients 0660.  The
# unit's LimitMEMLOCK=12G cannot be had in this container (hard limit
# 8 MiB, no CAP_SYS_RESOURCE): the worker then runs without mlockall.
ALLOW=
if in_root varvaultd --help 2>&1 | grep -q -- --allow-unlocked-memory; then
	# The memlock hard limit here is below what the worker must lock.
	ALLOW=--allow-unlocked-memory
fi
unit_exec=$(sed -n 's/^ExecStart=//p' "$R/lib/systemd/system/varvaultd.service")
sock=$(sed -n 's/^ListenStream=//p' "$R/lib/systemd/system/varvaultd.socket")
# Type=notify: systemd's notification socket, played by a listener on the
# host side of the chroot's /run, world-writable as systemd's own is.
rm -f "$R/run/notify.sock"
/usr/bin/python3 - "$R/run/notify.sock" "$W/notify.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "w", buffering=1) as f:
    while True:
        d = s.recv(4096).decode(errors="replace")
        f.write(d.replace("\n", " ") + "\n")
        if "STOPPING=1" in d:
            break
PY
NPID=$!
for _ in $(seq 1 100); do [ -S "$R/run/notify.sock" ] && break; sleep 0.1; done
[ -S "$R/run/notify.sock" ] || fail "the notify listener did not start"
chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin WATCHDOG_USEC=30000000 NOTIFY_SOCKET=/run/notify.sock \
	prlimit --core=0 -- sh -c 'umask 0077; exec "$@"' sh \
	systemd-socket-activate -E WATCHDOG_USEC -E NOTIFY_SOCKET -l "$sock" \
	setpriv --reuid=varvault --regid=varvault --init-groups --inh-caps=-all --bounding-set=-all \
	--no-new-privs -- $unit_exec $ALLOW >"$W/varvaultd.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do [ -S "$R$sock" ] && break; sleep 0.1; done
[ -S "$R$sock" ] || { cat "$W/varvaultd.log"; fail "no socket $sock"; }
in_root chown varvault:varvault-clients "$sock"
in_root chmod 0660 "$sock"
as_lab() { in_root setpriv --reuid=labuser --regid=labuser --init-groups -- env HOME=/home/labuser "$@"; }
C=(--config /home/labuser/vv/client.conf)
ok=
for _ in $(seq 1 100); do
	as_lab varvault health "${C[@]}" >"$W/health.log" 2>&1 && { ok=1; break; }
	kill -0 "$DPID" 2>/dev/null || break
	sleep 0.2
done
[ -n "$ok" ] || { cat "$W/health.log" "$W/varvaultd.log"; fail "varvaultd does not answer health"; }
# chroot, env, prlimit, sh, systemd-socket-activate and setpriv each exec
# the next in the same process, so the daemon is $DPID itself.
dpid=$DPID
[ "$(readlink /proc/"$dpid"/exe)" = "$R/usr/sbin/varvaultd" ] ||
	fail "pid $dpid is $(readlink /proc/"$dpid"/exe), not the chroot's varvaultd"
st=$(cat /proc/"$dpid"/status)
grep -q "^Uid:.*$vuid" <<<"$st" || fail "varvaultd does not run as varvault: $(grep ^Uid <<<"$st")"
grep -q '^CapEff:[[:space:]]*0000000000000000' <<<"$st" || fail "varvaultd has capabilities"
grep -q '^NoNewPrivs:[[:space:]]*1' <<<"$st" || fail "varvaultd without no_new_privs"
echo "varvaultd pid $dpid: uid varvault, no capabilities, no_new_privs"
JOB=$(as_lab varvault submit "${C[@]}" --sample DEMO-001 --encrypt-to /etc/varvault/appliance.pub \
	/usr/share/varvault/demo/sample.vcf 2>"$W/submit.err") || { cat "$W/submit.err" "$W/varvaultd.log"; fail "submit"; }
as_lab varvault status "${C[@]}" --wait "$JOB" >"$W/status.log" 2>&1 || { cat "$W/status.log" "$W/varvaultd.log"; fail "status --wait $JOB"; }
as_lab varvault result "${C[@]}" "$JOB" --format json -o /home/labuser/result.json >"$W/result.log" 2>&1 ||
	{ cat "$W/result.log" "$W/varvaultd.log"; fail "result $JOB"; }
res=$R/home/labuser/result.json
grep -q '"variants"' "$res" || fail "result.json holds no variants: $(head -c 300 "$res")"
nvar=$(grep -o '"pos"' "$res" | wc -l)
[ "$nvar" -gt 0 ] || fail "result.json lists no variant positions"
echo "job $JOB done; result.json: $nvar variants"
# Outside varvault-clients, the socket refuses the connection itself, even
# with a valid certificate and key (a copy of labuser's).
cp -a "$R/home/labuser/vv" "$R/home/outsider/vv"
sed -i 's|/home/labuser/|/home/outsider/|g' "$R/home/outsider/vv/client.conf"
in_root chown -R outsider:outsider /home/outsider/vv
if in_root setpriv --reuid=outsider --regid=outsider --init-groups -- env HOME=/home/outsider \
	varvault health --config /home/outsider/vv/client.conf >"$W/outsider.log" 2>&1; then
	fail "a user outside varvault-clients reached varvaultd"
fi
grep -qi 'permission denied' "$W/outsider.log" || fail "outsider refused for another reason: $(cat "$W/outsider.log")"
echo "a user outside varvault-clients is refused: $(head -n 1 "$W/outsider.log")"
kill -TERM "$dpid"
wait "$DPID" || { cat "$W/varvaultd.log"; fail "varvaultd did not stop cleanly on SIGTERM"; }
# The listener ends at STOPPING=1; the daemon has exited, so whatever it
# sent is there now.
for _ in $(seq 1 50); do kill -0 "$NPID" 2>/dev/null || break; sleep 0.1; done
kill "$NPID" 2>/dev/null || true
wait "$NPID" 2>/dev/null || true
grep -q 'READY=1' "$W/notify.log" || fail "varvaultd sent no READY=1: $(cat "$W/notify.log")"
grep -q 'STOPPING=1' "$W/notify.log" || fail "varvaultd sent no STOPPING=1: $(cat "$W/notify.log")"
echo "sd_notify: READY=1 and STOPPING=1 received; stopped cleanly on SIGTERM"

say "6. remove"
# The client issued above changed ca/: what remove and purge must keep is
# the state as it is now.
keys_before=$(keysum)
in_root apt-get remove -y -q varvault >"$W/remove.log" 2>&1 || { tail -n 20 "$W/remove.log"; fail "remove"; }
[ ! -e "$R/usr/sbin/varvaultd" ] || fail "remove left /usr/sbin/varvaultd"
[ -f "$R/etc/varvault/varvaultd.conf" ] || fail "remove took the configuration"
[ "$(keysum)" = "$keys_before" ] || fail "remove touched the keys"

say "7. purge (debconf default: keep the clinical state)"
in_root apt-get purge -y -q varvault >"$W/purge.log" 2>&1 || { tail -n 20 "$W/purge.log"; fail "purge"; }
[ ! -e "$R/etc/varvault" ] || fail "purge left /etc/varvault: $(ls -A "$R/etc/varvault")"
[ ! -e "$R/etc/apparmor.d/usr.sbin.varvaultd" ] || fail "purge left the AppArmor profile"
[ "$(keysum)" = "$keys_before" ] || fail "purge without the removal asked touched the keys"
grep -q 'stays in /var/lib/varvault' "$W/purge.log" || fail "purge did not say where the state is: $(cat "$W/purge.log")"
echo "purge kept /var/lib/varvault and said so"

say "8. install again, purge with the removal asked for (debconf preseed)"
in_root apt-get install -y -q --no-install-recommends "/tmp/varvault_${V}_${ARCH}.deb" >"$W/install2.log" 2>&1 ||
	{ tail -n 40 "$W/install2.log"; fail "second install"; }
! grep -q 'appliance created' "$W/install2.log" || fail "reinstall over kept state made new keys"
[ "$(keysum)" = "$keys_before" ] || fail "reinstall changed the kept keys"
echo "varvault varvault/purge-state boolean true" | in_root debconf-set-selections
in_root apt-get purge -y -q varvault >"$W/purge2.log" 2>&1 || { tail -n 20 "$W/purge2.log"; fail "purge 2"; }
[ ! -e "$R/var/lib/varvault" ] || fail "purge with the removal asked for left /var/lib/varvault"
in_root apt-get autoremove --purge -y -q >"$W/autoremove.log" 2>&1 || { tail -n 20 "$W/autoremove.log"; fail "autoremove"; }
in_root userdel -r labuser 2>/dev/null || true
in_root userdel -r outsider 2>/dev/null || true
snapshot >"$W/after.txt"
# Left by Debian's own systemd package (pulled in by sysusers; its postinst
# also makes the /etc/mtab link), not by varvault: the same list piuparts
# needs for any sysusers package.
left=$(comm -13 "$W/before.txt" "$W/after.txt" | grep -Ev \
	'^\./var/(cache|lib|log)/private$|^\./var/lib/systemd(/(coredump|pstore))?$|^\./root/\.ssh$|^\./etc/systemd|^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)-$|^\./var/mail$|^\./etc/machine-id$|^\./etc/mtab$' || true)
[ -z "$left" ] || fail "after purge and autoremove, left on the system: $left"
# And nothing named after varvault anywhere (the list above hides systemd's
# /etc/systemd leftovers, which would also hide enabled-unit links).
ours=$(grep -i varvault "$W/after.txt" || true)
[ -z "$ours" ] || fail "after purge, left on the system: $ours"
echo "purge with removal asked: /var/lib/varvault gone; nothing else left"
echo "test_deb: all steps passed in ${SECONDS}s"
