#!/bin/bash
# The appliance's overhead: one job of N variants (default 2,000) through
# varvaultd (submit encrypted, wait, fetch the result) against
# varvault-admin annotate on the same VCF, model and thread count, measured
# in the same run (goal: at most 5% more); then jobs per second for small
# submissions (20 variants) from 8 concurrent clients; then audit records
# appended per second inside the daemon (8 clients sending health requests
# on open connections: each is one record in its own fsync'd transaction).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
MODEL=${VV_BENCH_MODEL:-models/demo-dna-mlm}
N=${VV_BENCH_DAEMON_VARIANTS:-2000}
JOBS=${VV_BENCH_DAEMON_JOBS:-5} # small jobs per client
[ -x "$BIN/varvaultd" ] || { echo "bench_daemon: $BIN/varvaultd not built; skipped"; exit 0; }
T=$(mktemp -d /tmp/vvbench.XXXXXX)
DPID=
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
now() { date +%s.%N; }
threads=$(nproc)
"$PYTHON" bench/make_bench_vcf.py "$T/big.vcf" "$N"
awk '/^#/ || n++ < 20' "$T/big.vcf" >"$T/small.vcf"
"$BIN/varvault-admin" init --state-dir "$T/state" --config-dir "$T/etc" --socket "$T/s.sock" --workers 2 \
	--model "$MODEL" --reference demo/reference.fa.gz --evidence policy/evidence.conf >/dev/null
echo "threads = $threads" >>"$T/etc/varvaultd.conf"
"$BIN/varvault-admin" client issue --config "$T/etc/varvaultd.conf" --name bench --role submitter -o "$T/c" >/dev/null
C=(--config "$T/c/client.conf")
"$BIN/varvaultd" --config "$T/etc/varvaultd.conf" 2>"$T/log" &
DPID=$!
for _ in $(seq 1 100); do "$BIN/varvault" health "${C[@]}" >/dev/null 2>&1 && break; sleep 0.1; done

t0=$(now)
"$BIN/varvault-admin" annotate -q --model "$MODEL" --reference demo/reference.fa.gz \
	--policy policy/evidence.conf --threads "$threads" --vcf "$T/big.vcf" --format tsv -o "$T/a.tsv"
t1=$(now)
J=$("$BIN/varvault" submit "${C[@]}" --sample B1 --format tsv --encrypt-to "$T/etc/appliance.pub" "$T/big.vcf")
"$BIN/varvault" status "${C[@]}" --wait "$J" >/dev/null
"$BIN/varvault" result "${C[@]}" "$J" -o "$T/d.tsv"
t2=$(now)
cmp -s "$T/a.tsv" "$T/d.tsv" || { echo "bench_daemon: the daemon's result differs from annotate's"; exit 1; }

client() {
	for i in $(seq 1 "$JOBS"); do
		j=$("$BIN/varvault" submit "${C[@]}" --sample "S$1" --format tsv --encrypt-to "$T/etc/appliance.pub" "$T/small.vcf")
		"$BIN/varvault" status "${C[@]}" --wait "$j" >/dev/null
		"$BIN/varvault" result "${C[@]}" "$j" >/dev/null
	done
}
t3=$(now)
for c in 1 2 3 4 5 6 7 8; do client $c & done
wait $(jobs -p | grep -v "^$DPID\$") 2>/dev/null || true
t4=$(now)
"$PYTHON" -c '
import sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6]); n, jobs, th = int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
a, d = t1 - t0, t2 - t1
print("daemon: one job of %d variants, %s threads" % (n, th))
print("  annotate      %7.2f s" % a)
print("  varvaultd     %7.2f s  (submit encrypted, run in a worker, fetch)  overhead %+.1f %% (goal <= 5 %%)" % (d, 100 * (d / a - 1)))
print("  small jobs    %7.2f jobs/s  (8 clients x %d jobs of 20 variants, 2 workers)" % (8 * jobs / (t4 - t3), jobs))
' "$t0" "$t1" "$t2" "$t3" "$t4" "$N" "$JOBS" "$threads"
"$PYTHON" - "$T/c" "$T/state/varvault.db" <<'PY'
import json, os, socket, sqlite3, ssl, struct, sys, threading, time
cdir, db = sys.argv[1:3]
conf = dict(l.split(" = ", 1) for l in open(os.path.join(cdir, "client.conf")).read().splitlines() if " = " in l)
def count():
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True).execute("SELECT count(*) FROM audit_records").fetchone()[0]
def conn():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(conf["ca"])
    ctx.load_cert_chain(conf["cert"], conf["key"])
    s = socket.socket(socket.AF_UNIX)
    s.connect(conf["socket"])
    return ctx.wrap_socket(s, server_hostname="varvaultd")
def rd(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b
K = 200
def run(i):
    s = conn()
    for k in range(K):
        m = json.dumps({"v": 1, "verb": "health", "id": "%d-%d" % (i, k)}).encode()
        s.sendall(struct.pack(">I", len(m)) + m)
        (n,) = struct.unpack(">I", rd(s, 4))
        rd(s, n)
socks = []
n0 = count()
t0 = time.time()
th = [threading.Thread(target=run, args=(i,)) for i in range(8)]
for t in th: t.start()
for t in th: t.join()
dt = time.time() - t0
n = count() - n0
print("  audit appends %7.0f records/s inside the daemon (%d requests from 8 clients, each record its own"
      " fsync'd transaction)" % (n / dt, n))
PY
