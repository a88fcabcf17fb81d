#!/bin/bash
# Started as root, varvaultd serves as the service user: /proc/PID/status
# shows the user's ids in all four slots and no supplementary groups, no
# capabilities (but CAP_IPC_LOCK where it kept that one for locked memory,
# bounding set too), and what it writes in the state folder is the user's and
# nobody else's (umask 077).  It refuses to serve as root: [daemon] user =
# root, a user that does not exist, a state folder the user does not own.
source "$(dirname "$0")/daemon_lib.bash"
[ "$(id -u)" = 0 ] || { echo "needs root to start varvaultd as root (CI runs as root)"; exit 77; }
uid=$(id -u "$VV_USER") gid=$(id -g "$VV_USER")

make_appliance --workers 1
issue alice submitter
touch "$T/mark"
sleep 1 # find -newer compares whole seconds on some file systems
start_daemon
st=/proc/$DPID/status
grep -q "^Uid:	$uid	$uid	$uid	$uid\$" "$st" || fail "uids: $(grep ^Uid: "$st")"
grep -q "^Gid:	$gid	$gid	$gid	$gid\$" "$st" || fail "gids: $(grep ^Gid: "$st")"
grep -q "^Groups:[[:space:]]*\$" "$st" || fail "supplementary groups: $(grep ^Groups: "$st")"
# No capability, or CAP_IPC_LOCK alone where root could not raise
# RLIMIT_MEMLOCK (no CAP_SYS_RESOURCE) and the daemon kept it for locked
# memory, as its log then says (test_daemon_memlock.sh forces that case).
caps=0000000000000000
grep -q "memory lock: CAP_IPC_LOCK kept" "$T/daemon.log" && caps=0000000000004000
grep -q "^CapEff:	$caps\$" "$st" || fail "capabilities: $(grep ^CapEff: "$st"), want $caps"
grep -q "^CapPrm:	$caps\$" "$st" || fail "permitted capabilities: $(grep ^CapPrm: "$st"), want $caps"
grep -q "^CapBnd:	$caps\$" "$st" || fail "bounding set: $(grep ^CapBnd: "$st"), want $caps"
J=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit"
wait_state alice "$J" done
vv alice result "$J" -o "$T/got.vcf" || fail "result"
stop_daemon
bad=$(find "$T/state" ! -user "$VV_USER" -print -quit)
[ -z "$bad" ] || fail "$bad is not owned by $VV_USER"
new=$(find "$T/state" -newer "$T/mark" -type f | wc -l)
[ "$new" -gt 0 ] || fail "the daemon wrote nothing in the state folder"
# (the CRL, public by design, is written 0644 on purpose)
open=$(find "$T/state" -newer "$T/mark" -type f -perm /077 ! -path "$T/state/ca/crl.pem" -print -quit)
[ -z "$open" ] || fail "$open is readable by others: mode $(stat -c %a "$open")"

# refusals: exit 1, a message that says what to do, no socket left
refused() { # WHY PATTERN
	local rc
	set +e
	"$D" --config "$CONF" >"$T/err" 2>&1
	rc=$?
	set -e
	[ $rc -eq 1 ] && grep -q "$2" "$T/err" || fail "$1: exit $rc: $(cat "$T/err")"
	[ ! -e "$SOCK" ] || fail "$1: a socket was left"
}
sed -i "s|^\[daemon\]|[daemon]\nuser = root|" "$CONF"
refused "user = root" "refusing to serve as root: \[daemon\] user = root is root"
sed -i "s|^user = root\$|user = vv-no-such-user|" "$CONF"
refused "no such user" "user vv-no-such-user does not exist"
sed -i "s|^user = vv-no-such-user\$|user = $VV_USER|" "$CONF"
chown root: "$T/state"
refused "state owned by root" "chown -R $VV_USER: $T/state"
echo "daemon privdrop: ok"
