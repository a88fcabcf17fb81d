#!/bin/bash
# kill -9 of varvaultd: during an upload (nothing accepted, nothing left),
# right after "accepted" (the job runs after the restart), during a run (it
# resumes from its stored chunks, and its result equals an uninterrupted
# run's bytes), and VV_KILLS (default 20) kills in a row during one job;
# kill -9 of a worker fails its job with the reason while the daemon serves
# on.  bench/soak_daemon_kill.sh runs the loop with VV_KILLS=1000.
source "$(dirname "$0")/daemon_lib.bash"
KILLS=${VV_KILLS:-20}
CHUNK=20

make_appliance --workers 1
issue alice submitter
issue root admin
set_conf job_time_limit 3600
sed -i "s|^\[daemon\]|[daemon]\nchunk = $CHUNK|" "$CONF"
echo "threads = 1" >>"$CONF" # [model] is the last section
"$PYTHON" bench/make_bench_vcf.py "$T/big.vcf" 400
PUB=$T/etc/appliance.pub
# what an uninterrupted run gives, for the same chunk size
for f in vcf tsv; do
	"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --threads 1 --chunk $CHUNK \
		--vcf "$T/big.vcf" --format $f -o "$T/want_big.$f"
	"$ADMIN" annotate -q --model "$MODEL" --reference $REF --policy $EVID --threads 1 --chunk $CHUNK \
		--vcf "$VCF" --format $f -o "$T/want_small.$f"
done
same_result() { # JOB NAME
	for f in vcf tsv; do
		vv alice result "$1" --format $f -o "$T/got.$f" --force || fail "result $1 $f"
		cmp -s "$T/got.$f" "$T/want_$2.$f" || fail "job $1: $f differs from an uninterrupted run"
	done
}
chunks() { job_field alice "$1" "['chunks']" 2>/dev/null || echo -1; }
spool_empty() { [ -z "$(ls -A "$T/state/spool")" ] || fail "spool holds: $(ls -A "$T/state/spool")"; }

start_daemon

echo "step 1"
# 1. during an upload: nothing accepted, nothing left
$PROTO "$SOCK" stall-upload U1 --ca "$T/alice/ca.crt" --cert "$T/alice/client.crt" \
	--key "$T/alice/client.key" >"$T/stall.out" 2>&1 &
STALL=$!
for _ in $(seq 1 300); do grep -q stalled "$T/stall.out" && break; sleep 0.1; done
grep -q "^ok" "$T/stall.out" || fail "stalled upload not started: $(cat "$T/stall.out")"
kill9_daemon
kill $STALL 2>/dev/null || true
wait $STALL 2>/dev/null || true
spool_empty
ls -A "$T/state/spool" | grep -q . && fail "upload left a file"
start_daemon
[ -z "$(vv root list)" ] || fail "a cut upload became a job: $(vv root list)"
spool_empty

echo "step 2"
# 2. right after "accepted": the job runs after the restart
J1=$(vv alice submit --sample S1 --encrypt-to "$PUB" "$VCF") || fail "submit J1"
kill9_daemon
start_daemon
wait_state alice "$J1" done
same_result "$J1" small

echo "step 3"
# 3. during a run: resumes, identical bytes
J2=$(vv alice submit --sample S2 --encrypt-to "$PUB" "$T/big.vcf") || fail "submit J2"
for _ in $(seq 1 3000); do [ "$(chunks "$J2")" -ge 2 ] && break; sleep 0.1; done
[ "$(job_field alice "$J2" "['state']")" = running ] || fail "J2 not running at the kill"
kill9_daemon
start_daemon
wait_state alice "$J2" done
[ "$(job_field alice "$J2" "['attempts']")" -ge 2 ] || fail "J2 ran once only"
same_result "$J2" big

echo "step 4"
# 4. KILLS kills in a row during jobs: a new job whenever one is done, each
# checked against an uninterrupted run
J3=$(vv alice submit --sample S3 --encrypt-to "$PUB" "$T/big.vcf") || fail "submit J3"
kills=0 during=0 jobs=1
while [ $kills -lt "$KILLS" ]; do
	if [ "$(job_field alice "$J3" "['state']")" = done ]; then
		same_result "$J3" big
		J3=$(vv alice submit --sample S3 --encrypt-to "$PUB" "$T/big.vcf") || fail "submit J3 again"
		jobs=$((jobs + 1))
	fi
	if [ $((kills % 2)) -eq 0 ]; then
		# after the job has stored one more chunk
		before=$(chunks "$J3")
		for _ in $(seq 1 600); do
			[ "$(chunks "$J3")" -gt "$before" ] && break
			[ "$(job_field alice "$J3" "['state']")" = done ] && break
			sleep 0.05
		done
	else
		# at a random moment, also while the daemon is still starting up
		sleep "0.$((RANDOM % 10))"
	fi
	[ "$(job_field alice "$J3" "['state']" 2>/dev/null)" = running ] && during=$((during + 1))
	kill9_daemon
	kills=$((kills + 1))
	start_daemon
done
wait_state alice "$J3" done
same_result "$J3" big
echo "kills: $kills, $during of them while a job ran; $jobs job(s)"
[ $during -ge $((KILLS / 2)) ] || fail "only $during of $kills kills came during a run"

echo "step 5"
# 5. kill -9 of a worker: the job fails with the reason, the daemon serves on
J4=$(vv alice submit --sample S4 --encrypt-to "$PUB" "$T/big.vcf") || fail "submit J4"
W=
for _ in $(seq 1 600); do
	W=$(pgrep -P "$DPID" -f -- "--worker" || true)
	[ -n "$W" ] && break
	sleep 0.05
done
[ -n "$W" ] || fail "no worker for J4"
kill -9 $W
wait_state alice "$J4" failed
st=$(vv alice status "$J4" || true)
grep -q "worker_failed: worker killed by signal 9" <<<"$st" || fail "J4's reason: $st"
vv alice health >/dev/null || fail "health after a worker's kill"
same_result "$J1" small
stop_daemon
spool_empty
echo "daemon crash: ok"
