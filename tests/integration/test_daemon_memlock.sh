#!/bin/bash
# Locked memory, verified (issue 9): --check-config computes what a worker
# must lock; under a too-small RLIMIT_MEMLOCK the worker refuses its job
# naming LimitMEMLOCK= and the size (the same figure), the daemon serves on;
# the daemon refuses to start when its master key cannot be locked, unless
# --allow-unlocked-memory, which health then states; a worker with enough
# allowance has locked everything it maps (VmLck >= VmRSS, and within the
# need) inside its sandbox (Seccomp 2, NoNewPrivs 1).  Started as root
# without CAP_SYS_RESOURCE under a small hard limit, the daemon keeps
# CAP_IPC_LOCK alone across the switch to varvault: monitor and workers hold
# that one capability and nothing else, and --check-config says so.
source "$(dirname "$0")/daemon_lib.bash"

make_appliance --workers 1
issue alice submitter
set_conf max_upload 8M
echo "threads = 1" >>"$CONF" # [model] is the last section
# The limits here: root keeps CAP_IPC_LOCK, which makes mlock ignore
# RLIMIT_MEMLOCK, so the low-limit cases drop it (and CAP_SYS_RESOURCE, with
# which the daemon started as root would raise the limit itself).
NOCAPS="setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock,-sys_resource"
low() { # BYTES CMD...: CMD under RLIMIT_MEMLOCK of BYTES, without CAP_IPC_LOCK
	local b=$1
	shift
	if [ "$(id -u)" = 0 ]; then
		prlimit --memlock="$b" $NOCAPS "$@"
	else
		prlimit --memlock="$b" "$@"
	fi
}
LOW1M="prlimit --memlock=1048576"
LOW0="prlimit --memlock=0"
if [ "$(id -u)" = 0 ]; then
	LOW1M="$LOW1M $NOCAPS"
	LOW0="$LOW0 $NOCAPS"
fi
# As root with CAP_IPC_LOCK but without CAP_SYS_RESOURCE (this container's
# root, and any root under this wrapper) and a zero limit, under which the
# daemon refuses to start without the capability (below): it must keep
# CAP_IPC_LOCK across the switch to varvault.
CAPWAY="prlimit --memlock=0 setpriv --bounding-set=-sys_resource"
jget() { "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
ASAN=${SANITIZE:-0}

# ---- --check-config: the breakdown, the limit, the unit setting ----
"$D" --check-config --config "$CONF" >"$T/cc.txt" || fail "check-config: $(cat "$T/cc.txt")"
grep -q "^set in varvaultd.service: LimitMEMLOCK=[0-9]*M$" "$T/cc.txt" || fail "check-config text: $(cat "$T/cc.txt")"
set +e
low 1048576 "$D" --check-config --json --config "$CONF" >"$T/cc.json"
rc=$?
set -e
[ $rc = 1 ] || fail "check-config under a 1 MiB limit: exit $rc, want 1: $(cat "$T/cc.json")"
[ "$(jget "['ok']" <"$T/cc.json")" = False ] || fail "check-config low: ok"
[ "$(jget "['memory']['allows']" <"$T/cc.json")" = False ] || fail "check-config low: allows"
[ "$(jget "['memory']['limit_bytes']" <"$T/cc.json")" = 1048576 ] || fail "check-config low: limit"
[ "$(jget "['memory']['cap_ipc_lock']" <"$T/cc.json")" = False ] || fail "check-config low: CAP_IPC_LOCK"
for c in $(jget "['checks']" <"$T/cc.json" | tr -d "[]{}' " | tr , '\n' | grep '^ok:' | sort -u); do
	[ "$c" = ok:True ] || fail "check-config: a check failed: $(cat "$T/cc.json")"
done
NEED=$(jget "['memory']['total_mib']" <"$T/cc.json")
# The total is the sum of the parts, each from its own source.
SUM=$(jget "['memory']" <"$T/cc.json" | "$PYTHON" -c "
import ast,sys; m=ast.literal_eval(sys.stdin.read())
print(sum(m[k] for k in ('process_mib','weights_mib','run_state_mib','blas_buffers_mib','input_mib','output_mib','margin_mib')))")
[ "$SUM" -ge "$NEED" ] && [ "$SUM" -le $((NEED + 7)) ] || fail "total $NEED MiB is not the sum of its parts ($SUM)"
# The input bound follows the config: 8M uploads, and a plaintext buffer
# may be twice that while it grows.
[ "$(jget "['memory']['input_mib']" <"$T/cc.json")" = 16 ] || fail "input_mib for max_upload 8M"
[ "$(jget "['memory']['unit_setting']" <"$T/cc.json")" = "LimitMEMLOCK=${NEED}M" ] || fail "unit setting"
[ "$(jget "['memory']['allowance']" <"$T/cc.json")" = limit ] || fail "check-config low: allowance"
# Enough limit: exit 0 (with CAP_IPC_LOCK the limit does not apply).
if [ "$(id -u)" = 0 ]; then
	$CAPWAY "$D" --check-config --json --config "$CONF" >"$T/cc2.json" || fail "check-config as root: $(cat "$T/cc2.json")"
	[ "$(jget "['memory']['allows']" <"$T/cc2.json")" = True ] || fail "check-config as root: allows"
	[ "$(jget "['memory']['allowance']" <"$T/cc2.json")" = cap_ipc_lock ] || fail "check-config as root: allowance"
	# the unit's alternative to LimitMEMLOCK=: the service user given
	# CAP_IPC_LOCK as an ambient capability (AmbientCapabilities=)
	give_to_service_user
	setpriv --reuid="$VV_USER" --regid="$VV_USER" --clear-groups --inh-caps=-all,+ipc_lock \
		--ambient-caps=+ipc_lock prlimit --memlock=1048576 "$D" --check-config --json --config "$CONF" \
		>"$T/cc3.json" || fail "check-config as $VV_USER with CAP_IPC_LOCK: $(cat "$T/cc3.json")"
	[ "$(jget "['memory']['allowance']" <"$T/cc3.json")" = cap_ipc_lock ] || fail "ambient CAP_IPC_LOCK: allowance"
	[ "$(jget "['memory']['allows']" <"$T/cc3.json")" = True ] || fail "ambient CAP_IPC_LOCK: allows"
fi

# ---- the daemon under a 1 MiB limit: starts (its keys fit), the worker refuses
# the job naming LimitMEMLOCK= and the figure, and the daemon serves on ----
DAEMON_FLAGS= DAEMON_WRAP=$LOW1M start_daemon
[ "$(vv alice health --json | jget "['memory_locked']")" = True ] || fail "1 MiB: the master key is not locked"
J1=$(vv alice submit --sample S1 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit J1"
wait_state alice "$J1" failed
# (status of a failed job exits non-zero: the JSON is there all the same)
MSG=$(job_field alice "$J1" "['error']['message']" || true)
CODE=$(job_field alice "$J1" "['error']['code']" || true)
[ "$CODE" = memory_lock ] || fail "refused job: code $CODE, want memory_lock"
[[ $MSG == *"LimitMEMLOCK=${NEED}M"* ]] || fail "refusal does not name LimitMEMLOCK=${NEED}M: $MSG"
[[ $MSG == *"must lock $NEED MiB"* ]] || fail "refusal does not give the $NEED MiB of --check-config: $MSG"
[[ $MSG == *"RLIMIT_MEMLOCK is 1 MiB"* ]] || fail "refusal does not give the limit: $MSG"
vv alice health >/dev/null || fail "daemon not serving after the refusal"
J2=$(vv alice submit --sample S2 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit after a refusal"
wait_state alice "$J2" failed
vv alice health >/dev/null || fail "daemon not serving after two refusals"
stop_daemon

# ---- the daemon under a zero limit: its master key cannot be locked ----
if [ "$ASAN" = 1 ]; then
	echo "note: ASan's mlock does nothing and reports success: the start-up refusal is not checked"
else
	: >"$T/daemon.log"
	set +e
	# shellcheck disable=SC2086
	timeout 60 $LOW0 "$D" --config "$CONF" >"$T/refused.log" 2>&1
	rc=$?
	set -e
	[ $rc != 0 ] && [ $rc != 124 ] || fail "started without locked memory: exit $rc"
	grep -q "LimitMEMLOCK=" "$T/refused.log" || fail "start-up refusal does not name LimitMEMLOCK=: $(cat "$T/refused.log")"
	grep -q "allow-unlocked-memory" "$T/refused.log" || fail "start-up refusal does not name the flag"
	[ ! -S "$SOCK" ] || fail "refused daemon left its socket"
	# with the development flag it starts, and every output says so
	DAEMON_FLAGS=--allow-unlocked-memory DAEMON_WRAP=$LOW0 start_daemon
	[ "$(vv alice health --json | jget "['memory_locked']")" = False ] || fail "health: memory_locked"
	[ "$(vv alice health --json | jget "['unlocked_memory_allowed']")" = True ] || fail "health: allowed"
	vv alice health | grep -q "memory NOT locked" || fail "health text does not warn"
	grep -q "ready on .*memory NOT locked" "$T/daemon.log" || fail "start-up log does not say memory is unlocked"
	J3=$(vv alice submit --sample S3 --encrypt-to "$T/etc/appliance.pub" "$VCF") || fail "submit J3"
	wait_state alice "$J3" done
	grep -q "job $J3: done .*memory NOT locked" "$T/daemon.log" || fail "job log does not say memory was unlocked"
	stop_daemon
fi

# ---- enough allowance: a running worker has locked all it maps ----
# Not root: the limit must cover the need.  Root: started under $CAPWAY (no
# CAP_SYS_RESOURCE, a zero hard limit), the daemon keeps CAP_IPC_LOCK, and
# only it, across the switch to varvault, and its workers inherit it.
if [ "$(id -u)" != 0 ] && [ "$(ulimit -l)" != unlimited ] && [ "$(ulimit -l)" -lt $((NEED * 1024)) ]; then
	fail "not root and RLIMIT_MEMLOCK $(ulimit -l) KiB < $NEED MiB: run as root (CAP_IPC_LOCK) or raise the limit"
fi
if [ "$(id -u)" = 0 ]; then
	(( 0x$(awk '/^CapPrm:/ {print $2}' /proc/self/status) & 0x4000 )) ||
		fail "root here has no CAP_IPC_LOCK: the daemon cannot keep it"
	DAEMON_WRAP=$CAPWAY
fi
sed -i "s|^\[daemon\]|[daemon]\nchunk = 20|" "$CONF"
"$PYTHON" bench/make_bench_vcf.py "$T/big.vcf" 3000
: >"$T/daemon.log"
DAEMON_FLAGS= start_daemon
DAEMON_WRAP=
capeff() { awk '/^CapEff:/ {print $2}' "$1"; }
if [ "$(id -u)" = 0 ]; then
	grep -q "memory lock: CAP_IPC_LOCK kept, nothing else (RLIMIT_MEMLOCK is 0 MiB" "$T/daemon.log" ||
		fail "the log does not say CAP_IPC_LOCK was kept"
	# the monitor: CAP_IPC_LOCK or nothing in every thread (OpenBLAS's
	# threads, older than the switch, have none; their bounding sets, which
	# a capability set is per thread, stay as they were)
	for f in /proc/"$DPID"/task/*/status; do
		for k in CapEff CapPrm CapInh CapAmb; do
			v=$(awk "/^$k:/ {print \$2}" "$f")
			[ "$v" = 0000000000004000 ] || [ "$v" = 0000000000000000 ] ||
				fail "monitor thread ${f%/status}: $k $v, more than CAP_IPC_LOCK"
		done
	done
	for k in CapEff CapPrm CapInh CapAmb CapBnd; do
		grep -q "^$k:	0000000000004000\$" /proc/"$DPID"/status ||
			fail "monitor: $(grep "^$k:" /proc/"$DPID"/status), want CAP_IPC_LOCK alone"
	done
fi
J4=$(vv alice submit --sample S4 --encrypt-to "$T/etc/appliance.pub" "$T/big.vcf") || fail "submit J4"
seen=
for _ in $(seq 1 600); do
	for p in $(pgrep -P "$DPID" || true); do
		st=$(cat "/proc/$p/status" 2>/dev/null) || continue
		# the sandbox goes on after the mlockall: past it, all is locked
		grep -q "^Seccomp:[[:space:]]*2\$" <<<"$st" || continue
		grep -q "^NoNewPrivs:[[:space:]]*1\$" <<<"$st" || fail "worker $p: NoNewPrivs is not 1"
		if [ "$(id -u)" = 0 ]; then
			for k in CapEff CapPrm CapBnd; do
				grep -q "^$k:	0000000000004000\$" <<<"$st" ||
					fail "worker $p: $(grep "^$k:" <<<"$st"), want CAP_IPC_LOCK (bit 14) alone"
			done
		fi
		lck=$(awk '/^VmLck:/ {print $2}' <<<"$st")
		rss=$(awk '/^VmRSS:/ {print $2}' <<<"$st")
		if [ "$ASAN" = 1 ]; then
			seen="sandboxed (ASan: VmLck not checked)"
			continue
		fi
		[ -n "$lck" ] && [ -n "$rss" ] || continue # exiting
		[ "$lck" -ge "$rss" ] || fail "worker $p: VmLck $lck kB < VmRSS $rss kB"
		[ "$lck" -le $((NEED * 1024)) ] || fail "worker $p: VmLck $lck kB over the computed $NEED MiB"
		seen="$lck kB locked, $rss kB resident"
	done
	[ -n "$seen" ] && break
	case $(job_field alice "$J4" "['state']" || true) in
	done) break ;;
	failed) fail "job J4 failed: $(job_field alice "$J4" "['error']['message']" || true)" ;;
	esac
	sleep 0.05
done
[ -n "$seen" ] || fail "never saw a running, sandboxed worker"
[ "$ASAN" = 1 ] && echo "note: ASan's mlockall does nothing and reports success: VmLck is not checked"
echo "worker: $seen (need computed: $NEED MiB)"
wait_state alice "$J4" done
if [ "$ASAN" != 1 ]; then
	[ "$(vv alice health --json | jget "['memory_locked']")" = True ] || fail "health: memory_locked"
	grep -q "job $J4: done .*NOT locked" "$T/daemon.log" && fail "job J4 ran unlocked"
fi
stop_daemon
echo "ok"
