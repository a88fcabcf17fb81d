#!/bin/bash
# varvaultd under systemd's protocols, without a booted systemd:
# 1. socket activation through systemd-socket-activate and a NOTIFY_SOCKET
#    (tests/integration/dgram_listen.py) with WATCHDOG_USEC: READY=1, STATUS=
#    with queue and worker figures, WATCHDOG=1 while the loop runs,
#    STOPPING=1 last; SIGTERM mid-job: the job finishes the chunk under way
#    and goes back to the queue;
# 2. the restart resumes that job after its stored chunks, to the result an
#    uninterrupted run gives; stderr carries VARVAULT_EVENT= and
#    VARVAULT_JOB= when there is no journal; a passed datagram socket is
#    refused;
# 3. the test-hooks build with its main loop blocked (SIGUSR1) sends no more
#    WATCHDOG=1 though the process lives;
# 4. with JOURNAL_STREAM naming its stderr, the records go to the journal's
#    native socket (sd_journal_send) with their fields, not to stderr.
source "$(dirname "$0")/daemon_lib.bash"
SA=$(command -v systemd-socket-activate) || { echo "systemd-socket-activate missing (package systemd)"; exit 77; }
TH=$BIN/tests/varvaultd-testhooks
[ -x "$TH" ] || fail "$TH not built (make $TH)"
CHUNK=20
WD_USEC=400000

LPIDS=()
trap 'for p in "${LPIDS[@]}"; do kill "$p" 2>/dev/null; done; cleanup' EXIT
# listen PATH OUT: a datagram listener writing what it gets to OUT
listen() {
	"$PYTHON" tests/integration/dgram_listen.py "$1" "$2" &
	LPIDS+=($!)
	for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	fail "listener on $1 did not start"
}
# start_activated BINARY NOTIFY_SOCKET: the daemon as systemd would start
# it; systemd-socket-activate execs it (same pid) on the first connection,
# which the first health probe makes.
start_activated() {
	local keep=() v
	give_to_service_user
	rm -f "$SOCK"
	# systemd-socket-activate passes only what -E names: keep OpenBLAS's
	# settings, so that the kernel (and so the result's bytes) is the one
	# the reference run below used.
	for v in $(compgen -e); do case $v in OPENBLAS_* | ASAN_* | UBSAN_* | VARVAULT_LOG) keep+=(-E "$v") ;; esac; done
	NOTIFY_SOCKET=$2 WATCHDOG_USEC=$WD_USEC "$SA" -E NOTIFY_SOCKET -E WATCHDOG_USEC "${keep[@]}" -l "$SOCK" \
		"$1" --config "$CONF" $DAEMON_FLAGS >>"$T/daemon.log" 2>&1 & # DAEMON_FLAGS: daemon_lib.bash
	DPID=$!
	for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
	for _ in $(seq 1 300); do
		"$V" health --config "$T/alice/client.conf" >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || fail "activated varvaultd exited at start"
		sleep 0.1
	done
	fail "activated varvaultd did not answer"
}
count() { grep -c "^$1" "$2" || true; }
# wait_count PATTERN FILE N: until FILE holds N lines starting with PATTERN
wait_count() {
	for _ in $(seq 1 600); do [ "$(count "$1" "$2")" -ge "$3" ] && return 0; sleep 0.1; done
	fail "$2: fewer than $3 lines $1: $(cat "$2")"
}
chunks() { job_field alice "$1" "['chunks']" 2>/dev/null || echo -1; }

make_appliance --workers 1
issue alice submitter
sed -i "s|^\[daemon\]|[daemon]\nchunk = $CHUNK|" "$CONF"
echo "threads = 1" >>"$CONF" # [model] is the last section
PUB=$T/etc/appliance.pub
"$PYTHON" bench/make_bench_vcf.py "$T/big.vcf" 400
"$ADMIN" annotate -q --model "$MODEL" --reference "$REF" --policy "$EVID" --threads 1 --chunk $CHUNK \
	--vcf "$T/big.vcf" --format vcf -o "$T/want.vcf"

echo "1. socket activation, notify, watchdog, SIGTERM mid-job"
N1=$T/notify1.out
listen "$T/n1.sock" "$N1"
start_activated "$D" "$T/n1.sock"
grep -q "ready on the socket systemd passed (socket activation)" "$T/daemon.log" ||
	fail "not serving on the activated socket"
wait_count READY=1 "$N1" 1
# the loop keeps pinging (at half of WATCHDOG_USEC)
w0=$(count WATCHDOG=1 "$N1")
wait_count WATCHDOG=1 "$N1" $((w0 + 3))
J=$(vv alice submit --sample S1 --encrypt-to "$PUB" "$T/big.vcf") || fail "submit"
for _ in $(seq 1 3000); do [ "$(chunks "$J")" -ge 2 ] && break; sleep 0.1; done
[ "$(job_field alice "$J" "['state']")" = running ] || fail "job not running at SIGTERM"
wait_count "STATUS=serving: 0 queued, 1 of 1 workers busy" "$N1" 1
c0=$(chunks "$J")
kill -TERM "$DPID"
wait "$DPID" || fail "varvaultd stopped with status $?"
DPID=
# READY, STATUS, WATCHDOG, STOPPING in that order; nothing after STOPPING
# but its STATUS
"$PYTHON" - "$N1" <<'EOF' || fail "notify order: $(cat "$N1")"
import sys
lines = open(sys.argv[1]).read().split("\n")[:-1]
first = lambda p: next(i for i, l in enumerate(lines) if l.startswith(p))
ready, status, wd, stop = first("READY=1"), first("STATUS="), first("WATCHDOG=1"), first("STOPPING=1")
assert ready < status < wd < stop, (ready, status, wd, stop)
assert lines[status].startswith("STATUS=serving: 0 queued, 0 of 1 workers busy, "), lines[status]
assert all(not l.startswith(("WATCHDOG", "READY")) for l in lines[stop:]), lines[stop:]
assert lines[stop + 1].startswith("STATUS=stopping: 1 job(s)"), lines[stop + 1]
# STATUS= on changes only: never the same text twice in a row
st = [l for l in lines if l.startswith("STATUS=")]
assert all(a != b for a, b in zip(st, st[1:])), st
EOF
grep -q "job $J: stopping after chunk" "$T/daemon.log" || fail "the job did not stop at a chunk's end"
grep -q "job $J: handed back to the queue \[VARVAULT_EVENT=job_requeued VARVAULT_JOB=$J\]" "$T/daemon.log" ||
	fail "no job_requeued record"
grep -q "stopped \[VARVAULT_EVENT=stopped\]" "$T/daemon.log" || fail "no stopped record"

echo "2. the restart resumes the job"
rm -f "$SOCK"
start_daemon
wait_state alice "$J" done
from=$(sed -n "s/^varvaultd: job $J: running (attempt 2, from chunk \([0-9]*\)).*/\1/p" "$T/daemon.log")
[ -n "$from" ] || fail "no second attempt of $J"
# the chunk under way at SIGTERM was finished and stored
[ "$from" -ge $((c0 + 1)) ] || fail "resumed from chunk $from, $c0 were stored at SIGTERM"
vv alice result "$J" --format vcf -o "$T/got.vcf" --force || fail "result"
cmp -s "$T/got.vcf" "$T/want.vcf" || fail "resumed result differs from an uninterrupted run"
for ev in "job_accepted VARVAULT_JOB=$J" "job_running VARVAULT_JOB=$J" "job_done VARVAULT_JOB=$J" ready stopping; do
	grep -q "\[VARVAULT_EVENT=$ev\]" "$T/daemon.log" || fail "stderr lacks VARVAULT_EVENT=$ev"
done
stop_daemon

echo "2b. a passed socket that is not a listening stream socket is refused"
rm -f "$SOCK"
give_to_service_user
"$SA" --datagram -l "$SOCK" "$D" --config "$CONF" $DAEMON_FLAGS >"$T/dgram.log" 2>&1 &
DPID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
# a datagram is what makes systemd-socket-activate exec the daemon
"$PYTHON" -c 'import socket,sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", sys.argv[1])' "$SOCK"
set +e
wait "$DPID"
rc=$?
set -e
DPID=
[ $rc -eq 1 ] && grep -q "not a listening AF_UNIX stream socket" "$T/dgram.log" ||
	fail "datagram socket: exit $rc: $(cat "$T/dgram.log")"
rm -f "$SOCK"

echo "3. a blocked main loop stops the watchdog"
N3=$T/notify3.out
listen "$T/n3.sock" "$N3"
start_activated "$TH" "$T/n3.sock"
w0=$(count WATCHDOG=1 "$N3")
wait_count WATCHDOG=1 "$N3" $((w0 + 3))
kill -USR1 "$DPID"
wait_count "STATUS=test hook: main loop blocked" "$N3" 1
# 3 s is 15 ping intervals: a loop that still ran would have sent some
sleep 3
kill -0 "$DPID" 2>/dev/null || fail "the blocked daemon died"
after=$(sed -n '/^STATUS=test hook: main loop blocked/,$p' "$N3" | grep -c "^WATCHDOG=1" || true)
[ "$after" -eq 0 ] || fail "$after WATCHDOG=1 after the loop blocked"
kill9_daemon

echo "4. journal records"
JS=/run/systemd/journal/socket
if [ "$(id -u)" = 0 ] && [ ! -e "$JS" ]; then
	mkdir -p /run/systemd/journal
	JO=$T/journal.out
	listen "$JS" "$JO"
	trap 'for p in "${LPIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -f "$JS"; cleanup' EXIT
	before=$(grep -c "VARVAULT_EVENT=ready" "$T/daemon.log" || true)
	rm -f "$SOCK"
	JOURNAL_STREAM=$(stat -c %d:%i "$T/daemon.log")
	export JOURNAL_STREAM
	start_daemon
	unset JOURNAL_STREAM
	stop_daemon
	rm -f "$JS"
	"$PYTHON" - "$JO" <<'EOF' || fail "journal records: $(cat "$JO")"
import sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index("VARVAULT_EVENT=ready")
rec = lines[max(0, i - 4):i + 1]
assert any(l.startswith("MESSAGE=ready on ") for l in rec), rec
assert "PRIORITY=6" in rec and "SYSLOG_IDENTIFIER=varvaultd" in rec, rec
assert "VARVAULT_EVENT=stopped" in lines, lines
EOF
	[ "$(grep -c "VARVAULT_EVENT=ready" "$T/daemon.log" || true)" = "$before" ] ||
		fail "records went to stderr too while the journal took them"
else
	echo "note: $JS exists (a journald runs) or not root: the journal part is not checked"
fi
echo "daemon systemd: ok"
