# Shared by the bench scripts (sourced, not run: no bench_ prefix, so
# bench/run.sh does not run it).
# cpu LOG CMD...: runs CMD with its stderr in LOG and prints the CPU seconds
# (user + system) of it and its children; returns CMD's status.
cpu() {
	"$PYTHON" -c '
import resource, subprocess, sys
rc = subprocess.run(sys.argv[2:], stderr=open(sys.argv[1], "w")).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.2f" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "$@"
}
