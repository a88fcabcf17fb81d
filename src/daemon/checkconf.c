/* varvaultd --check-config: every file the daemon needs, read as it reads
 * them, and the memory a worker must lock against RLIMIT_MEMLOCK. */
#include "caps.h"
#include "config.h"
#include "memneed.h"
#include "sdglue.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "varvault/c4gh.h"
#include "varvault/interpret.h"
#include "varvault/model.h"
#include "varvault/net.h"
#include "varvault/vcf.h"

struct check {
	json_object *list;   /* [{"check", "ok", "error"}] */
	bool json, ok;
};

/* Records one check's outcome (rc from the check, with vv_err_detail). */
static void report(struct check *c, const char *name, int rc)
{
	json_object *o = json_object_new_object();
	char msg[600];

	snprintf(msg, sizeof msg, "%s%s%s", vv_strerror(rc), *vv_err_detail() ? ": " : "", vv_err_detail());
	json_object_object_add(o, "check", json_object_new_string(name));
	json_object_object_add(o, "ok", json_object_new_boolean(rc == 0));
	if (rc)
		json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_array_add(c->list, o);
	if (rc)
		c->ok = false;
	if (!c->json)
		printf("%-16s %s\n", name, rc ? msg : "ok");
	vv_err_clear();
}

/* The master key as the daemon reads it: 32 bytes, a regular file, not
 * readable by others.  Only its size and mode are looked at. */
static int check_master(const char *path)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != VV_KEY_LEN) {
		close(fd);
		return vv_errf(VV_ERR_FORMAT, "%s: not a %d-byte key file", path, VV_KEY_LEN);
	}
	close(fd);
	if ((st.st_mode & 077) != 0)
		return vv_errf(VV_ERR_INVAL, "%s: readable by others (mode %03o); chmod 600 it", path,
			       (unsigned)(st.st_mode & 0777));
	return 0;
}

static int check_readable(const char *path)
{
	int fd;

	if (!path)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return vv_errf(VV_ERR_IO, "%s: %s", path, strerror(errno));
	close(fd);
	return 0;
}

static json_object *mib(uint64_t b)
{
	return json_object_new_int64((int64_t)vv_daemon_mib_up(b));
}

int vv_daemon_check_config(const char *path, bool json)
{
	struct check c = {json_object_new_array(), json, true};
	struct vv_dconf cf;
	struct vv_memneed need;
	struct vv_memlimit lim;
	vv_model *m = NULL;
	vv_ref *ref = NULL;
	vv_policy *pol = NULL;
	vv_net_access *acc = NULL;
	vv_c4gh_seckey *sk = NULL;
	json_object *top = json_object_new_object(), *mo = NULL;
	struct vv_memimage img;
	enum vv_memlock_way way = VV_MEMLOCK_LIMIT;
	bool allows = false;
	int rc;

	memset(&cf, 0, sizeof cf);
	/* First, as the worker does at its start: the image of a varvaultd
	 * that has loaded nothing (memneed.h, process). */
	if ((rc = vv_daemon_memimage(&img)) != 0 || (rc = vv_core_init()) != 0) {
		report(&c, "start", rc);
		goto out;
	}
	vv_vcf_init();
	if (!json)
		printf("%-16s %s\n", "config", path);
	rc = vv_dconf_load(path, &cf);
	report(&c, "config", rc);
	if (rc)
		goto out;
	report(&c, "model manifest", vv_dconf_model_verify(cf.model_dir));
	rc = vv_model_load(cf.model_dir, &m);
	report(&c, "model", rc);
	rc = vv_ref_open(cf.reference, &ref);
	report(&c, "reference", rc);
	rc = vv_policy_load(cf.evidence, &pol);
	report(&c, "evidence policy", rc);
	rc = vv_net_access_load(cf.access, &acc);
	report(&c, "access policy", rc);
	report(&c, "master key", check_master(cf.master_key));
	rc = vv_c4gh_seckey_load(cf.c4gh_key, NULL, 0, &sk);
	report(&c, "crypt4gh key", rc);
	rc = check_readable(cf.tls_cert);
	if (!rc)
		rc = check_readable(cf.tls_key);
	if (!rc)
		rc = check_readable(cf.tls_ca);
	report(&c, "tls files", rc);
	if (!m)
		goto out;
	/* The figures the worker computes for a job (sched.c: the upload
	 * limit bounds the plaintext; the scorer's default batch). */
	if ((rc = vv_daemon_memneed(m, (int)cf.threads, 0, cf.max_upload, &img, &need)) != 0 ||
	    (rc = vv_daemon_memlimit(&lim)) != 0) {
		report(&c, "memory", rc);
		goto out;
	}
	/* Started as root the daemon takes its allowance itself (caps.c):
	 * a raised limit or CAP_IPC_LOCK kept across the switch both cover
	 * the need. */
	way = vv_memlock_plan();
	allows = way != VV_MEMLOCK_LIMIT || vv_daemon_memlimit_allows(&lim, need.total);
	mo = json_object_new_object();
	json_object_object_add(mo, "process_mib", mib(need.process));
	json_object_object_add(mo, "weights_mib", mib(need.weights));
	json_object_object_add(mo, "run_state_mib", mib(need.run));
	json_object_object_add(mo, "blas_buffers_mib", mib(need.blas));
	json_object_object_add(mo, "input_mib", mib(need.input));
	json_object_object_add(mo, "output_mib", mib(need.output));
	json_object_object_add(mo, "margin_mib", mib(need.margin));
	json_object_object_add(mo, "total_mib", json_object_new_int64((int64_t)(need.total >> 20)));
	json_object_object_add(mo, "total_bytes", json_object_new_int64((int64_t)need.total));
	json_object_object_add(mo, "threads", json_object_new_int(need.threads));
	json_object_object_add(mo, "blas_threads", json_object_new_int((int)need.blas_threads));
	json_object_object_add(mo, "batch", json_object_new_int64((int64_t)need.batch));
	json_object_object_add(mo, "tokens", json_object_new_int64((int64_t)need.tokens));
	json_object_object_add(mo, "max_input_bytes", json_object_new_int64((int64_t)need.max_input));
	json_object_object_add(mo, "limit_bytes",
			       lim.unlimited ? json_object_new_null() : json_object_new_int64((int64_t)lim.cur));
	json_object_object_add(mo, "limit_unlimited", json_object_new_boolean(lim.unlimited));
	json_object_object_add(mo, "cap_ipc_lock", json_object_new_boolean(lim.cap_ipc_lock));
	json_object_object_add(mo, "allowance", json_object_new_string(vv_memlock_way_name(way)));
	json_object_object_add(mo, "allows", json_object_new_boolean(allows));
	{
		char unit[64];
		snprintf(unit, sizeof unit, "LimitMEMLOCK=%lluM", (unsigned long long)(need.total >> 20));
		json_object_object_add(mo, "unit_setting", json_object_new_string(unit));
		if (!json) {
			printf("memory a worker must lock (threads %d, batch %zu, %zu tokens, input up to %llu bytes):\n",
			       need.threads, need.batch, need.tokens, (unsigned long long)need.max_input);
			printf("  process image    %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.process));
			printf("  model weights    %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.weights));
			printf("  run-state        %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.run));
			printf("  OpenBLAS buffers %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.blas));
			printf("  input            %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.input));
			printf("  output chunk     %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.output));
			printf("  margin           %8llu MiB\n", (unsigned long long)vv_daemon_mib_up(need.margin));
			printf("  total            %8llu MiB\n", (unsigned long long)(need.total >> 20));
			if (lim.unlimited)
				printf("RLIMIT_MEMLOCK: unlimited");
			else
				printf("RLIMIT_MEMLOCK: %llu MiB", (unsigned long long)(lim.cur >> 20));
			printf("%s: %s\n", lim.cap_ipc_lock ? " (not applied: CAP_IPC_LOCK)" : "",
			       allows ? "enough" : "TOO LOW");
			printf("memory-lock allowance: %s\n",
			       way == VV_MEMLOCK_RLIMIT ? "rlimit (started as root: RLIMIT_MEMLOCK raised to the need)"
			       : way == VV_MEMLOCK_CAP
				       ? (vv_privs_is_root() ? "cap_ipc_lock (started as root: CAP_IPC_LOCK kept "
							       "across the switch to the service user)"
							     : "cap_ipc_lock (given by the service manager)")
				       : "limit (RLIMIT_MEMLOCK as set: LimitMEMLOCK=)");
			printf("set in varvaultd.service: %s\n", unit);
		}
	}
	if (!allows)
		c.ok = false;
out:
	json_object_object_add(top, "config", json_object_new_string(path));
	json_object_object_add(top, "ok", json_object_new_boolean(c.ok));
	json_object_object_add(top, "checks", c.list);
	if (mo)
		json_object_object_add(top, "memory", mo);
	if (json)
		printf("%s\n", json_object_to_json_string_ext(top, JSON_C_TO_STRING_PRETTY));
	else
		printf("%s\n", c.ok ? "ok" : "NOT ok");
	json_object_put(top);
	vv_c4gh_seckey_free(sk);
	vv_net_access_free(acc);
	vv_policy_free(pol);
	vv_ref_free(ref);
	vv_model_free(m);
	vv_dconf_done(&cf);
	return c.ok ? 0 : 1;
}
