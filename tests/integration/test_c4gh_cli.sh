#!/bin/bash
# varvault keygen / encrypt / decrypt through the real binary: key files,
# round trips, several recipients, sender keys, tampering (each failure its
# own error, no output file or temporary left, nothing on stdout), passphrase
# sources, usage errors and --help.
set -u
V=${VV_BIN:-build}/varvault
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
failures=0

bad() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# expect_fail WHAT ERROR-TEXT CMD...: exit 1, the error named on stderr.
expect_fail() {
	local what=$1 text=$2 rc
	shift 2
	"$@" >stdout.txt 2>stderr.txt
	rc=$?
	[ $rc -eq 1 ] || bad "$what: exit $rc, expected 1"
	grep -q -- "$text" stderr.txt || bad "$what: expected '$text' in: $(cat stderr.txt)"
}

# Runs without a controlling terminal, so that no prompt can be shown.
notty() {
	setsid -w "$@" </dev/null
}

# ---- keygen ----
"$V" keygen --sk a.sec --pk a.pub --nocrypt || bad "keygen --nocrypt"
[ "$(stat -c %a a.sec)" = 600 ] || bad "secret key mode $(stat -c %a a.sec), expected 600"
head -1 a.sec | grep -q '^-----BEGIN CRYPT4GH PRIVATE KEY-----$' || bad "secret key armor"
head -1 a.pub | grep -q '^-----BEGIN CRYPT4GH PUBLIC KEY-----$' || bad "public key armor"
cp a.sec a.sec.orig
expect_fail "keygen over an existing key" "already exists" "$V" keygen --sk a.sec --pk new.pub --nocrypt
cmp -s a.sec a.sec.orig || bad "keygen without --force changed an existing key"
[ -e new.pub ] && bad "keygen that refused still wrote the public key"
"$V" keygen --sk a2.sec --pk a2.pub --nocrypt && "$V" keygen --sk a2.sec --pk a2.pub --nocrypt --force ||
	bad "keygen --force"
C4GH_PASSPHRASE='correct horse' "$V" keygen --sk b.sec --pk b.pub -C 'bob@lab' || bad "keygen with C4GH_PASSPHRASE"
printf 'file secret\n' >c.pass
notty "$V" keygen --sk c.sec --pk c.pub --passphrase-file c.pass || bad "keygen --passphrase-file"
expect_fail "keygen with no passphrase source" "needs a passphrase" notty env -u C4GH_PASSPHRASE "$V" keygen --sk d.sec --pk d.pub
[ -e d.sec ] || [ -e d.pub ] && bad "keygen that failed left a file"
: >empty.pass
expect_fail "keygen with an empty passphrase" "empty passphrase" "$V" keygen --sk d.sec --pk d.pub --passphrase-file empty.pass
# --sk and --pk naming one file other than by the same string are refused
# before anything is written (--force used to put the public key over the
# new secret key and exit 0).
"$V" keygen --sk same.sec --pk same.pub --nocrypt || bad "keygen same.sec"
cp same.sec same.sec.orig
ln -s same.sec same.link
ln same.sec same.hard
mkdir sub && ln -s .. sub/up
for pk in ./same.sec "$PWD/same.sec" same.link same.hard sub/up/same.sec sub/../same.sec; do
	"$V" keygen --sk same.sec --pk "$pk" --nocrypt --force >/dev/null 2>stderr.txt
	rc=$?
	[ $rc -eq 2 ] || bad "keygen --sk same.sec --pk $pk --force: exit $rc, expected 2"
	grep -q "name the same file" stderr.txt || bad "keygen --sk same.sec --pk $pk: $(cat stderr.txt)"
	cmp -s same.sec same.sec.orig || bad "keygen --sk same.sec --pk $pk changed the secret key"
done
"$V" keygen --sk fresh.sec --pk sub/up/fresh.sec --nocrypt >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || bad "keygen --sk fresh.sec --pk sub/up/fresh.sec: exit $rc, expected 2"
[ -e fresh.sec ] && bad "keygen to one new file under two names wrote it"
# a dangling link to the public key's name: found once the public key is there
ln -s dangle.pub dangle.link
expect_fail "keygen --sk a link to --pk" "name the same file" "$V" keygen --sk dangle.link --pk dangle.pub --nocrypt
[ -e dangle.pub ] && bad "keygen --sk a link to --pk left the public key"
[ -L dangle.link ] || bad "keygen --sk a link to --pk replaced the link"
# A pair that cannot be written leaves an earlier pair as it was (--force
# used to replace the secret key, then delete it when the public key failed).
"$V" keygen --sk old.sec --pk old.pub --nocrypt || bad "keygen old.sec"
cp old.sec old.sec.orig
cp old.pub old.pub.orig
mkdir pkdir skdir
expect_fail "keygen --force, the public key a folder" "pkdir" "$V" keygen --sk old.sec --pk pkdir --nocrypt --force
cmp -s old.sec old.sec.orig || bad "a keygen that failed on the public key changed the old secret key"
expect_fail "keygen --force, the secret key a folder" "skdir" "$V" keygen --sk skdir --pk old.pub --nocrypt --force
cmp -s old.pub old.pub.orig || bad "a keygen that failed on the secret key changed the old public key"
ls -A | grep -q '^\.old\.' && bad "keygen left a temporary or a kept file: $(ls -A)"
[ -z "$(find pkdir skdir -mindepth 1)" ] || bad "keygen wrote into a folder given as a key file"
"$V" keygen --sk old.sec --pk old.pub --nocrypt --force || bad "keygen --force over a pair"
cmp -s old.sec old.sec.orig && bad "keygen --force did not replace the secret key"
cmp -s old.pub old.pub.orig && bad "keygen --force did not replace the public key"
ls -A | grep -q '^\.old\.' && bad "keygen --force left a file: $(ls -A)"

# ---- round trips, stdin/stdout and files ----
for n in 0 1 65535 65536 65537 10485760; do
	head -c $n /dev/urandom >p$n
	"$V" encrypt --recipient-pk a.pub <p$n >e$n || bad "encrypt $n bytes"
	"$V" decrypt --sk a.sec <e$n | cmp -s - p$n || bad "round trip of $n bytes through stdin/stdout"
	"$V" decrypt --sk a.sec -i e$n -o d$n && cmp -s d$n p$n || bad "round trip of $n bytes through files"
	[ "$(stat -c %a d$n)" = 600 ] || bad "plaintext output mode $(stat -c %a d$n), expected 600"
done
# Sizes the format fixes: 124-byte header, 28 bytes per segment, no empty last segment.
[ "$(stat -c %s e0)" -eq 124 ] || bad "empty plaintext: $(stat -c %s e0) bytes, expected a bare 124-byte header"
[ "$(stat -c %s e65536)" -eq $((124 + 65564)) ] || bad "65536 bytes: not exactly one segment"
[ "$(stat -c %s e65537)" -eq $((124 + 65564 + 29)) ] || bad "65537 bytes: wrong segment layout"

# ---- past the memory-lock limit: decrypt to stdout works, and warns once ----
# lowlock CMD...: runs CMD with RLIMIT_MEMLOCK at 1 MiB and, for root, without
# CAP_IPC_LOCK (which ignores the limit).
lowlock() {
	if [ "$(id -u)" = 0 ]; then
		(ulimit -l 1024 && setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock "$@")
	else
		(ulimit -l 1024 && "$@")
	fi
}
if [ "${SANITIZE:-0}" = 1 ]; then
	echo "note: ASan's mlock does nothing and reports success: the memory-lock warning is not checked"
elif [ "$(id -u)" != 0 ] || command -v setpriv >/dev/null; then
	lowlock "$V" decrypt --sk a.sec -i e10485760 2>lock.err | cmp -s - p10485760 ||
		bad "decrypt to stdout past the memory-lock limit: $(cat lock.err)"
	[ "$(grep -c 'not locked and may reach swap' lock.err)" = 1 ] ||
		bad "decrypt past the memory-lock limit: expected one warning, got: $(cat lock.err)"
	lowlock "$V" decrypt --sk a.sec -i e65537 2>lock.err | cmp -s - p65537 || bad "small decrypt under a low lock limit"
	[ -s lock.err ] && bad "a small decrypt under the lock limit warned: $(cat lock.err)"
else
	echo "note: root without setpriv: the memory-lock warning is not checked"
fi

# ---- several recipients, each able to decrypt; passphrase sources ----
"$V" encrypt --recipient-pk a.pub --recipient-pk b.pub --recipient_pk c.pub -i p65537 -o multi.c4gh ||
	bad "encrypt to three recipients"
"$V" decrypt --sk a.sec -i multi.c4gh | cmp -s - p65537 || bad "recipient a"
C4GH_PASSPHRASE='correct horse' "$V" decrypt --sk b.sec -i multi.c4gh | cmp -s - p65537 || bad "recipient b (env)"
notty "$V" decrypt --sk c.sec --passphrase-file c.pass -i multi.c4gh | cmp -s - p65537 ||
	bad "recipient c (passphrase file with a newline)"
expect_fail "wrong passphrase" "invalid key or passphrase" \
	env C4GH_PASSPHRASE=wrong "$V" decrypt --sk b.sec -i multi.c4gh
expect_fail "protected key without a passphrase source" "needs a passphrase" \
	notty env -u C4GH_PASSPHRASE "$V" decrypt --sk b.sec -i multi.c4gh
"$V" keygen --sk x.sec --pk x.pub --nocrypt
expect_fail "a key that is not a recipient" "no header packet could be decrypted" \
	"$V" decrypt --sk x.sec -i multi.c4gh -o out.bin
[ -e out.bin ] && bad "wrong key left an output file"

# The terminal prompt: echo off, asked twice by keygen, once by decrypt.
# ontty ANSWER CMD...: runs CMD on a new pseudo-terminal, answers every prompt
# with ANSWER and Enter (ANSWER '^C': types Ctrl-C instead), prints what the
# terminal showed, exits as CMD, or 124 if CMD sat 10 s without ending.
ontty() {
	python3 - "$@" <<'PY'
import os, pty, select, signal, sys
pw = b"\x03" if sys.argv[1] == "^C" else sys.argv[1].encode() + b"\n"
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("C4GH_PASSPHRASE", None)
    os.execv(sys.argv[2], sys.argv[2:])
seen = b""
while True:
    if not select.select([fd], [], [], 10)[0]:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.write(seen.decode(errors="replace") + "<hung>")
        sys.exit(124)
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if seen.rstrip().endswith(b":"):
        os.write(fd, pw)
        seen += b"<answered>"
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
PY
}
ontty 'tty secret' "$V" keygen --sk t.sec --pk t.pub >tty.txt || bad "keygen on a terminal: $(cat tty.txt)"
grep -q "Enter it again" tty.txt || bad "keygen did not ask twice on the terminal"
grep -q "tty secret" tty.txt && bad "the passphrase was echoed"
"$V" encrypt --recipient-pk t.pub -i p1 -o tty.c4gh
ontty 'tty secret' "$V" decrypt --sk t.sec -i tty.c4gh -o tty.out >tty.txt && cmp -s tty.out p1 ||
	bad "decrypt with a passphrase typed on the terminal: $(cat tty.txt)"
grep -q "Passphrase for t.sec" tty.txt || bad "decrypt prompt: $(cat tty.txt)"
ontty 'wrong' "$V" decrypt --sk t.sec -i tty.c4gh -o tty.out2 >tty.txt && bad "a wrong typed passphrase was accepted"
# Ctrl-C at the prompt ends the command at once (exit 130), not after Enter.
ontty '^C' "$V" decrypt --sk t.sec -i tty.c4gh -o ctrlc.out >tty.txt
rc=$?
[ $rc -eq 130 ] || bad "Ctrl-C at the decrypt prompt: exit $rc, expected 130: $(cat tty.txt)"
[ -e ctrlc.out ] && bad "Ctrl-C at the decrypt prompt left an output file"
ontty '^C' "$V" keygen --sk ctrlc.sec --pk ctrlc.pub >tty.txt
rc=$?
[ $rc -eq 130 ] || bad "Ctrl-C at the keygen prompt: exit $rc, expected 130: $(cat tty.txt)"
[ -e ctrlc.sec ] || [ -e ctrlc.pub ] && bad "Ctrl-C at the keygen prompt left a key file"
# The longest passphrase (4096 bytes) in a file, with its newline.
head -c 4096 /dev/zero | tr '\0' 'x' >long.pass
echo >>long.pass
notty "$V" keygen --sk long.sec --pk long.pub --passphrase-file long.pass ||
	bad "keygen with a 4096-byte passphrase and a newline in the file"
"$V" encrypt --recipient-pk long.pub -i p1 -o long.c4gh
notty "$V" decrypt --sk long.sec --passphrase-file long.pass -i long.c4gh | cmp -s - p1 ||
	bad "decrypt with a 4096-byte passphrase file"
printf 'x' >>long.pass
expect_fail "a 4097-byte passphrase" "longer than 4096 bytes" \
	notty "$V" decrypt --sk long.sec --passphrase-file long.pass -i long.c4gh

# ---- sender keys ----
C4GH_PASSPHRASE='correct horse' "$V" encrypt --recipient-pk a.pub --sk b.sec -i p1 -o signed.c4gh ||
	bad "encrypt with a protected sender key"
"$V" decrypt --sk a.sec --sender-pk b.pub -i signed.c4gh | cmp -s - p1 || bad "--sender-pk of the real writer"
"$V" decrypt --sk a.sec --sender_pk b.pub -i signed.c4gh | cmp -s - p1 || bad "--sender_pk alias"
expect_fail "--sender-pk of another key" "required writer key" \
	"$V" decrypt --sk a.sec --sender-pk x.pub -i signed.c4gh
expect_fail "ephemeral writer with --sender-pk" "required writer key" \
	"$V" decrypt --sk a.sec --sender-pk b.pub -i e1

# ---- tampering: each failure its own error, nothing handed on ----
# flip FILE OFFSET OUT: OUT is FILE with one bit flipped at OFFSET.
flip() {
	python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read()); d[int(sys.argv[2])] ^= 1
open(sys.argv[3], "wb").write(d)' "$@"
}
# e150k: three segments (65536 + 65536 + 18928 bytes) after a 124-byte header.
head -c 150000 /dev/urandom >p150k
"$V" encrypt --recipient-pk a.pub -i p150k -o e150k
flip e150k 0 t.magic
flip e150k 8 t.version
flip e150k 100 t.packet
flip e150k 30 t.writerpk
flip e150k $((124 + 5000)) t.seg0
flip e150k $((124 + 65564 + 12)) t.seg1
flip e150k $((124 + 2 * 65564 + 100)) t.seg2
head -c $((124 + 2 * 65564 + 5000)) e150k >t.trunc-mid
head -c $((124 + 2 * 65564 + 10)) e150k >t.trunc-short
head -c 100 e150k >t.trunc-header
python3 -c 'import sys
d = open("e150k", "rb").read(); h, s = d[:124], d[124:]
open("t.swap", "wb").write(h + s[65564:131128] + s[:65564] + s[131128:])'
for t in magic:"not a Crypt4GH file" version:"unsupported Crypt4GH version" \
	packet:"no header packet could be decrypted" writerpk:"no header packet could be decrypted" \
	seg0:"segment 0 (offset 124): authentication failed" \
	seg1:"segment 1 (offset 65688): authentication failed" \
	seg2:"truncated inside a segment" trunc-mid:"truncated inside a segment" \
	trunc-short:"the stream ends 10 bytes into it" trunc-header:"header truncated"; do
	name=${t%%:*}
	text=${t#*:}
	expect_fail "tampered $name" "$text" "$V" decrypt --sk a.sec -i t.$name -o out.bin
	[ -e out.bin ] && bad "tampered $name: output file left behind"
	ls -A | grep -q '^\.out\.bin' && bad "tampered $name: temporary file left behind"
	"$V" decrypt --sk a.sec -i t.$name 2>/dev/null | cmp -s - /dev/null ||
		bad "tampered $name: plaintext reached stdout"
done
# A failing decrypt leaves an existing output file as it was.
echo "keep me" >existing.txt
"$V" decrypt --sk a.sec -i t.seg2 -o existing.txt 2>/dev/null
[ "$(cat existing.txt)" = "keep me" ] || bad "a failing decrypt changed an existing output file"
# Undetectable by the format (SECURITY.md): whole segments reordered, or cut at a boundary.
"$V" decrypt --sk a.sec -i t.swap >/dev/null || bad "swapped whole segments: expected to decrypt (undetectable)"
head -c $((124 + 65564)) e150k | "$V" decrypt --sk a.sec | cmp -s - <(head -c 65536 p150k) ||
	bad "cut at a segment boundary: expected the first segment (undetectable)"

# ---- the stdout buffer bound ----
expect_fail "--max-buffer smaller than the plaintext" "larger than --max-buffer" \
	"$V" decrypt --sk a.sec --max-buffer 64K -i e150k
[ -s stdout.txt ] && bad "--max-buffer failure wrote to stdout"
"$V" decrypt --sk a.sec --max-buffer 1M -i e150k | cmp -s - p150k || bad "--max-buffer 1M"

# ---- malformed key files and keys in the wrong place ----
expect_fail "public key as --sk" "this is a public key" "$V" decrypt --sk a.pub -i e1
expect_fail "secret key as recipient" "this is a private key" "$V" encrypt --recipient-pk a.sec -i p1
printf 'garbage\n' >junk.key
expect_fail "junk key file" "malformed key file" "$V" decrypt --sk junk.key -i e1
expect_fail "missing key file" "No such file" "$V" decrypt --sk nonexistent.sec -i e1
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEcCEFwzayi012qAdOlrabtdje6P2L/yeQO/ZinsknJI x" >ssh.pub
expect_fail "OpenSSH public key" "OpenSSH public keys are not supported" "$V" encrypt --recipient-pk ssh.pub -i p1

# ---- usage errors (exit 2) and --help (exit 0) ----
for args in "" "bogus" "decrypt" "decrypt --sk" "decrypt --sk a.sec extra" "encrypt -i p1" \
	"keygen --sk only.sec" "keygen --sk same --pk same" "decrypt --sk a.sec --max-buffer 12Q" \
	"encrypt --recipient-pk a.pub --nonsense"; do
	# shellcheck disable=SC2086
	"$V" $args </dev/null >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || bad "'varvault $args': exit $rc, expected 2"
done
# Sizes start with a digit: strtoull would skip spaces and turn " -1" into SIZE_MAX.
for size in " -1" "-1" " 64K" "+64K" ""; do
	"$V" decrypt --sk a.sec --max-buffer "$size" -i e1 >/dev/null 2>&1
	rc=$?
	[ $rc -eq 2 ] || bad "--max-buffer '$size': exit $rc, expected 2"
done
for cmd in keygen encrypt decrypt; do
	"$V" $cmd --help | grep -q "^usage: varvault $cmd" || bad "$cmd --help"
done
"$V" --help | grep -q decrypt || bad "varvault --help lists decrypt"

echo "$failures failures"
[ $failures -eq 0 ]
