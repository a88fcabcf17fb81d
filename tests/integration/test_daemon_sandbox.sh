#!/bin/bash
# The interpreter worker's sandbox (issue 9), with the test-hooks build of
# varvaultd: a worker that tries open, socket, execve or ptrace after its
# filter is on dies of SIGSYS and its job fails with the reason while the
# daemon serves on; a held worker shows Seccomp: 2, NoNewPrivs: 1 and is not
# dumpable; a worker sent SIGSEGV leaves no core; normal jobs run under the
# filter to the end with the same bytes as `annotate`.
source "$(dirname "$0")/daemon_lib.bash"
D="$BIN/tests/varvaultd-testhooks"
[ -x "$D" ] || fail "$D not built (make $D)"
CHUNK=20

make_appliance --workers 1
issue alice submitter
set_conf job_time_limit 600
sed -i "s|^\[daemon\]|[daemon]\nchunk = $CHUNK\nworker_cpu_seconds = 600\nworker_memory_max = 16G|" "$CONF"
echo "threads = 1" >>"$CONF" # [model] is the last section
"$PYTHON" bench/make_bench_vcf.py "$T/big.vcf" 60
PUB=$T/etc/appliance.pub
for f in vcf tsv; do
	"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --threads 1 --chunk $CHUNK \
		--vcf "$T/big.vcf" --format $f -o "$T/want.$f"
done
same_result() { # JOB
	for f in vcf tsv; do
		vv alice result "$1" --format $f -o "$T/got.$f" --force || fail "result $1 $f"
		cmp -s "$T/got.$f" "$T/want.$f" || fail "job $1: $f differs from annotate's"
	done
}
# where a core could land: the core_pattern's folder when it is a path, the
# daemon's working folder, the state folder
CORE_DIRS="$PWD $T/state"
pat=$(cat /proc/sys/kernel/core_pattern)
case "$pat" in /*) CORE_DIRS="$CORE_DIRS $(dirname "$pat")" ;; esac
cores() { find $CORE_DIRS -maxdepth 1 -newer "$T/mark" \( -name 'core*' -o -name '*varvaultd*' \) 2>/dev/null || true; }
touch "$T/mark"

# worker k (spawn order; one worker at a time) gets hook k of the list
HOOKS=(open "" socket "" execve "" ptrace "" segv "" hold "")
VV_SANDBOX_MARK=1 VARVAULT_TEST_WORKER=$(IFS=,; echo "${HOOKS[*]}") start_daemon

for h in "${HOOKS[@]}"; do
	J=$(vv alice submit --sample "S-${h:-plain}" --encrypt-to "$PUB" "$T/big.vcf") || fail "submit ($h)"
	case "$h" in
	"")
		wait_state alice "$J" done
		same_result "$J"
		;;
	open | socket | execve | ptrace)
		wait_state alice "$J" failed
		st=$(vv alice status "$J" || true)
		grep -q "worker_failed: worker killed by its sandbox (SIGSYS)" <<<"$st" || fail "$h: reason: $st"
		grep -q "test hook: $h was not stopped" "$T/daemon.log" && fail "$h went through the filter"
		vv alice health >/dev/null || fail "health after $h"
		;;
	segv)
		wait_state alice "$J" failed
		st=$(vv alice status "$J" || true)
		want="worker killed by signal 11"
		# ASan's own SIGSEGV handler writes its report, which needs /proc
		# and so ends in SIGSYS: either way no core and a stated reason
		[ "${SANITIZE:-0}" = 1 ] || [[ $BIN == */san ]] && want="worker killed by (signal 11|its sandbox \(SIGSYS\))"
		grep -Eq "worker_failed: $want" <<<"$st" || fail "segv: reason: $st"
		c=$(cores)
		[ -z "$c" ] || fail "a core file was left: $c"
		;;
	hold)
		held=
		for _ in $(seq 1 1200); do
			grep -q "worker test hook: holding" "$T/daemon.log" && held=1 && break
			sleep 0.1
		done
		[ -n "$held" ] || fail "the worker was never held"
		W=$(pgrep -P "$DPID" -f -- "--worker" || true)
		[ -n "$W" ] || fail "no held worker"
		s=/proc/$W/status
		grep -q "^Seccomp:[[:space:]]*2$" $s || fail "held worker: $(grep Seccomp $s)"
		grep -q "^NoNewPrivs:[[:space:]]*1$" $s || fail "held worker: $(grep NoNewPrivs $s)"
		# not dumpable: as the worker's kernel reports it (root sees through
		# the /proc ownership that tells it otherwise), and /proc/PID owned by
		# root when the test runs as another user
		grep -q "worker test hook: holding (dumpable 0)" "$T/daemon.log" || fail "held worker is dumpable"
		[ "$(id -u)" = 0 ] || [ "$(stat -c %u /proc/$W)" = 0 ] || fail "held worker's /proc is its own (dumpable)"
		# the runner's fixed environment: nothing of the daemon's own
		tr '\0' '\n' </proc/$W/environ | grep -q VV_SANDBOX_MARK && fail "held worker inherited the daemon's environment"
		fds=$(ls /proc/$W/fd | sort -n | tr '\n' ' ')
		echo "held worker's descriptors: $fds"
		kill -USR1 "$W"
		wait_state alice "$J" done
		same_result "$J"
		;;
	esac
done
c=$(cores)
[ -z "$c" ] || fail "core files: $c"
grep -q "done (.*sandbox: seccomp" "$T/daemon.log" || fail "done jobs do not state their sandbox"
grep -o "sandbox: seccomp[^)]*" "$T/daemon.log" | sort | uniq -c
stop_daemon
echo "daemon sandbox: ok"
