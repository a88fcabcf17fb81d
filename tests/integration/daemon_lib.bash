# Sourced by tests/integration/test_daemon_*.sh: an appliance in a temporary
# folder (varvault-admin init), clients issued by it, and the real varvaultd
# started and stopped on a temporary socket.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
PYTHON=${PYTHON:-/usr/bin/python3}
ADMIN="$BIN/varvault-admin"
V="$BIN/varvault"
D="$BIN/varvaultd"
[ -x "$D" ] || { echo "$D not built"; exit 77; }
REF=demo/reference.fa.gz
VCF=demo/sample.vcf
MODEL=models/demo-dna-mlm
EVID=policy/evidence.conf
PROTO="$PYTHON tests/integration/vvproto.py"

# Unix socket paths are short (108 bytes): keep the folder short too.
T=$(mktemp -d /tmp/vvd.XXXXXX)
# Clients keep the audit checkpoints they witness here, not in the real home.
export XDG_STATE_HOME=$T/xdg
DPID=
cleanup() {
	[ -n "$DPID" ] && kill -9 "$DPID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

# Started as root (CI), varvaultd serves as its service user (the user
# exists and owns the appliance's files, as the package arranges); the
# tests run their tools as root, so start_daemon hands $T to it each time.
VV_USER=${VV_USER:-varvault}
if [ "$(id -u)" = 0 ]; then
	id -u "$VV_USER" >/dev/null 2>&1 ||
		useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$VV_USER" ||
		{ echo "useradd $VV_USER failed"; exit 1; }
	# A checkout the service user cannot read (under /root, say): the
	# daemon gets copies of the reference and the evidence policy.
	if ! setpriv --reuid="$VV_USER" --regid="$VV_USER" --clear-groups test -r "$REF" -a -r "$EVID"; then
		mkdir -p "$T/share"
		cp demo/reference.fa.gz* "$T/share/"
		cp "$EVID" "$T/share/evidence.conf"
		REF=$T/share/reference.fa.gz EVID=$T/share/evidence.conf
	fi
fi
give_to_service_user() {
	[ "$(id -u)" = 0 ] || return 0
	chown -R "$VV_USER:" "$T"
}
fail() {
	echo "FAIL: $*"
	[ -f "$T/daemon.log" ] && { echo "--- daemon log"; tail -n 30 "$T/daemon.log"; }
	exit 1
}

SOCK=$T/s.sock
CONF=$T/etc/varvaultd.conf
# make_appliance [init options...]
make_appliance() {
	"$ADMIN" init --state-dir "$T/state" --config-dir "$T/etc" --socket "$SOCK" \
		--model "$MODEL" --reference "$REF" --evidence "$EVID" "$@" >/dev/null
}
# issue NAME ROLE [options]: client settings in $T/NAME/client.conf
issue() {
	local n=$1 r=$2
	shift 2
	"$ADMIN" client issue --config "$CONF" --name "$n" --role "$r" -o "$T/$n" "$@" >/dev/null
}
# set_conf KEY VALUE: changes a [daemon] key of varvaultd.conf
set_conf() {
	sed -i "s|^$1 = .*|$1 = $2|" "$CONF"
	grep -q "^$1 = $2\$" "$CONF" || fail "set_conf $1"
}
# The daemon refuses to start, and its workers refuse jobs, when memory cannot
# be locked; a test user's RLIMIT_MEMLOCK (8 MiB by default, and the hard
# limit in CI containers) is far below what a worker must lock.  So the tests
# pass --allow-unlocked-memory: memory is still locked where the limit or
# CAP_IPC_LOCK allows, and health says when it is not.  Only
# test_daemon_memlock.sh exercises the refusals (DAEMON_FLAGS= and a
# DAEMON_WRAP such as prlimit).
DAEMON_FLAGS=${DAEMON_FLAGS---allow-unlocked-memory}
DAEMON_WRAP=${DAEMON_WRAP:-}
start_daemon() {
	give_to_service_user
	# shellcheck disable=SC2086 # both are word lists
	$DAEMON_WRAP "$D" --config "$CONF" $DAEMON_FLAGS >>"$T/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1 300); do
		[ -S "$SOCK" ] && "$V" health --config "$T/alice/client.conf" >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || fail "varvaultd exited at start"
		sleep 0.1
	done
	fail "varvaultd did not answer"
}
stop_daemon() {
	kill -TERM "$DPID"
	wait "$DPID" || fail "varvaultd stopped with status $?"
	DPID=
}
kill9_daemon() {
	kill -9 "$DPID" 2>/dev/null || true
	wait "$DPID" 2>/dev/null || true
	DPID=
	# Workers notice their monitor gone (their socket closes) and exit.
	for _ in $(seq 1 100); do
		pgrep -f "$D --worker" >/dev/null || break
		sleep 0.1
	done
}
# vv CLIENT verb args...: the client as CLIENT
vv() {
	local who=$1
	shift
	"$V" "$1" --config "$T/$who/client.conf" "${@:2}"
}
# job_field CLIENT JOB FIELD: one field of `status --json`
job_field() {
	vv "$1" status "$2" --json | "$PYTHON" -c "import json,sys; j=json.load(sys.stdin)['job']; print(j$3)"
}
# wait_state CLIENT JOB STATE
wait_state() {
	for _ in $(seq 1 1200); do
		[ "$(job_field "$1" "$2" "['state']")" = "$3" ] && return 0
		sleep 0.1
	done
	fail "job $2 never became $3"
}
