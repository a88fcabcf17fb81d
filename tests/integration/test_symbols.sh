#!/bin/bash
# Symbol discipline (docs/architecture.md, "Symbols"): every global symbol
# that the library build/libvarvault.a defines carries its module's prefix.
# A module's private symbols (declared in src/M/M_int.h) are vv_M_*; its
# public API (include/varvault/M.h) is vv_M_* or one of the established
# families listed here per module.  A new family is added here and in the
# docs on purpose, or the function is renamed.
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
LIB=$O/libvarvault.a
command -v nm >/dev/null || { echo "nm missing (binutils)"; exit 77; }
[ -f "$LIB" ] || { echo "FAIL: $LIB not built"; exit 1; }

# Public families besides vv_<module>_ (a name ending in _ is a prefix,
# any other an exact name).
declare -A families=(
	[core]="vv_strerror vv_errf vv_err_ vv_log vv_log_ vv_harden_process vv_sbuf_ vv_secret_
	        vv_wipe vv_read_file vv_size_ vv_array_grow vv_write_all vv_sha256_ vv_conf_
	        vv_seconds vv_hex vv_json_ vv_outfile_ vv_key_ vv_seal_chunk vv_open_chunk"
	[c4gh]=""
	[vcf]="vv_ref_"
	[model]=""
	[interpret]="vv_policy_ vv_scorer_ vv_score_ vv_evidence_ vv_out_format_"
	[store]="" [audit]="" [net]=""
)

allowed() { # module symbol
	local m=$1 s=$2 f
	[[ $s == vv_${m}_* ]] && return 0
	for f in ${families[$m]}; do
		if [[ $f == *_ ]]; then [[ $s == "$f"* ]] && return 0
		else [[ $s == "$f" ]] && return 0; fi
	done
	return 1
}

# Defined globals of one object or archive; names the compiler reserves
# (a leading __, as ASan's __odr_asan_gen_*) are not ours.
globals() { nm -g --defined-only "$1" 2>/dev/null | awk 'NF == 3 && $3 !~ /^__/ { print $3 }'; }

bad=0 checked=0
# Per module: the objects the archive is made of, by folder.
for m in "${!families[@]}"; do
	for o in "$O"/obj/src/"$m"/*.o; do
		[ -f "$o" ] || continue
		[ -f "src/$m/$(basename "${o%.o}").c" ] || continue   # a stale object
		for s in $(globals "$o"); do
			checked=$((checked + 1))
			if ! allowed "$m" "$s"; then
				echo "FAIL: $s (src/$m/$(basename "${o%.o}").c) lacks the prefix vv_${m}_"
				bad=$((bad + 1))
			fi
		done
	done
done
# The archive as a whole: no global outside every module's rules, nor a
# member from a folder that is not a module.
for s in $(globals "$LIB"); do
	ok=0
	for m in "${!families[@]}"; do allowed "$m" "$s" && { ok=1; break; }; done
	[ $ok -eq 1 ] || { echo "FAIL: $s in $LIB has no module's prefix"; bad=$((bad + 1)); }
done
[ $checked -gt 100 ] || { echo "FAIL: only $checked symbols seen: is $O/obj/src built?"; exit 1; }
[ $bad -eq 0 ] || exit 1
echo "ok: $checked global symbols, each with its module's prefix"
