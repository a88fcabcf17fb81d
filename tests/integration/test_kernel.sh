#!/bin/bash
# The OpenBLAS kernel choice: a process whose OpenBLAS detected a weaker core
# type than the CPU runs (simulated: tests/helpers/kernel_reexec passes a
# weaker name in place of the detection) starts again with the CPU's best
# one, chosen by varvault; an OPENBLAS_CORETYPE the operator set is left
# alone; the guard stops a second pass; workers' environments get the same
# choice; `model info` reports it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
H="$BIN/tests/helpers/kernel_reexec"
fail() { echo "FAIL: $*"; exit 1; }
clean() { env -u OPENBLAS_CORETYPE -u VARVAULT_OPENBLAS_CORETYPE "$@"; }

read -r core source best weaker < <(clean "$H" -)
[ "$source" = openblas ] || fail "no OPENBLAS_CORETYPE, yet the source is $source"
if [ "$best" = - ]; then
	echo "this CPU has no AVX: no OpenBLAS kernel to prefer"
	exit 77
fi

# A weaker detection (Prescott: SSE3) -> re-executed with the CPU's best.
read -r core source best2 weaker < <(clean "$H" Prescott)
[ "$core" = "$best" ] || fail "after re-execution OpenBLAS runs $core, expected $best"
[ "$source" = varvault ] || fail "source $source, expected varvault"
[ "$weaker" = 0 ] || fail "still weaker"

# Detection as good as the CPU's: nothing changes.
read -r core source x weaker < <(clean "$H" "$best")
[ "$source" = openblas ] || fail "re-executed although OpenBLAS chose $best"

# An unknown (maybe newer) name is left alone.
read -r core source x weaker < <(clean "$H" FutureLake)
[ "$source" = openblas ] || fail "replaced an unknown core type"

# The operator's OPENBLAS_CORETYPE is respected, even a weak one.
read -r core source x weaker < <(clean env OPENBLAS_CORETYPE=Prescott "$H" Prescott)
[ "$core" = Prescott ] && [ "$source" = operator ] || fail "operator's Prescott became $core ($source)"
[ "$weaker" = 1 ] || fail "a weaker operator choice is not reported"

# The guard alone stops the loop.
read -r core source x weaker < <(clean env VARVAULT_OPENBLAS_CORETYPE=Haswell "$H" Prescott)
[ "$source" = openblas ] || fail "re-executed despite the guard"

# Workers' environment (the daemon's path).
out=$(clean "$H" Prescott envp)
grep -qx "OPENBLAS_CORETYPE=$best" <<<"$out" || fail "worker env lacks OPENBLAS_CORETYPE=$best: $out"
grep -qx "VARVAULT_OPENBLAS_CORETYPE=$best" <<<"$out" || fail "worker env lacks the guard"
out=$(clean env OPENBLAS_CORETYPE=Sandybridge "$H" Prescott envp)
[ "$out" = "OPENBLAS_CORETYPE=Sandybridge" ] || fail "worker env changed the operator's value: $out"
clean env OPENBLAS_CORETYPE=Prescott VARVAULT_OPENBLAS_CORETYPE=Prescott "$H" - >/dev/null

# A worker started with that environment runs the better kernel, and
# model info says varvault chose it.
info=$(clean env OPENBLAS_CORETYPE="$best" VARVAULT_OPENBLAS_CORETYPE="$best" \
	"$BIN/varvault-admin" model info models/demo-dna-mlm --json)
grep -Eq "\"openblas_core\": *\"$best\"" <<<"$info" || fail "model info: $info"
grep -Eq '"chosen_by_varvault": *true' <<<"$info" || fail "model info does not say varvault chose"
info=$(clean env OPENBLAS_CORETYPE=Prescott "$BIN/varvault-admin" model info models/demo-dna-mlm)
grep -q "^kernel: OpenBLAS Prescott, chosen by operator; weaker than this CPU's $best" <<<"$info" ||
	fail "model info (text): $(grep kernel <<<"$info")"
echo "ok: $best chosen for a weaker detection; the operator's value kept"
