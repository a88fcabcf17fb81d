#!/bin/bash
# The bash completion (packaging/bash-completion/varvault) completes the
# commands of each program, varvault-admin's subcommands, and each
# command's options as its own --help lists them (the built programs).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VV_BIN:-$PWD/build}
export PATH="$BIN:$PATH"
fail() { echo "FAIL: $*"; exit 1; }
# shellcheck source=/dev/null
. packaging/bash-completion/varvault
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMPREPLY=()
	_varvault_complete
	echo "${COMPREPLY[*]}"
}
[ "$(comp varvault-admin cl)" = client ] || fail "varvault-admin cl -> '$(comp varvault-admin cl)'"
[ "$(comp varvault-admin client is)" = issue ] || fail "client is -> '$(comp varvault-admin client is)'"
[ "$(comp varvault sub)" = submit ] || fail "varvault sub -> '$(comp varvault sub)'"
got=$(comp varvault submit --enc)
[ "$got" = --encrypt-to ] || fail "varvault submit --enc -> '$got'"
got=$(comp varvault-admin init --state)
[ "$got" = --state-dir ] || fail "varvault-admin init --state -> '$got'"
got=$(comp varvaultd --conf)
case " $got " in *" --config "*) ;; *) fail "varvaultd --conf -> '$got'" ;; esac
# Every command the completion offers is one the program knows.
for p in varvault varvault-admin; do
	for c in $(comp "$p" ""); do
		case $c in --*) continue ;; esac
		"$p" --help 2>&1 | grep -qE "^  $c( |$)" || fail "$p has no command $c"
	done
done
echo "completion ok"
