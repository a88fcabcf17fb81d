/* The error table and the per-thread detail message. */
#include "varvault/core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int code;
	const char *name;
} vv_errtab[] = {
	{VV_OK, "success"},
	{VV_ERR_NOMEM, "out of memory"},
	{VV_ERR_INVAL, "invalid argument"},
	{VV_ERR_IO, "input/output error"},
	{VV_ERR_RANGE, "value out of range or over a limit"},
	{VV_ERR_FORMAT, "malformed input"},
	{VV_ERR_UNSUPPORTED, "not supported"},
	{VV_ERR_NOTFOUND, "not found"},
	{VV_ERR_EXISTS, "already exists"},
	{VV_ERR_INTERNAL, "internal error"},
	{VV_ERR_CANCELLED, "cancelled"},
	{VV_ERR_MLOCK, "memory could not be locked"},
	{VV_ERR_TRUNCATED, "input truncated"},
	{VV_ERR_AUTH, "authentication failed (data tampered with or wrong key)"},
	{VV_ERR_C4GH_MAGIC, "not a Crypt4GH file (bad magic)"},
	{VV_ERR_C4GH_VERSION, "unsupported Crypt4GH version"},
	{VV_ERR_C4GH_HEADER, "malformed Crypt4GH header"},
	{VV_ERR_C4GH_NOKEY, "no header packet could be decrypted with this key"},
	{VV_ERR_C4GH_METHOD, "unknown Crypt4GH method or packet type"},
	{VV_ERR_C4GH_SEGMENT, "Crypt4GH data segment failed authentication"},
	{VV_ERR_C4GH_TRUNCATED, "Crypt4GH stream truncated inside a segment"},
	{VV_ERR_C4GH_EDITLIST, "invalid Crypt4GH edit list"},
	{VV_ERR_C4GH_WRITER, "no header packet from the required writer key"},
	{VV_ERR_KEY_FORMAT, "malformed key file"},
	{VV_ERR_KEY_KDF, "key protected with an unsupported KDF"},
	{VV_ERR_KEY_CIPHER, "key protected with an unsupported cipher"},
	{VV_ERR_KEY_PASSPHRASE, "invalid key or passphrase"},
	{VV_ERR_KEY_NEEDPASS, "key is passphrase-protected and no passphrase was given"},
	{VV_ERR_MODEL_FORMAT, "malformed model file"},
	{VV_ERR_MODEL_TENSOR, "model tensor missing or mis-shaped"},
	{VV_ERR_MODEL_CONFIG, "invalid or unsupported model configuration"},
	{VV_ERR_MODEL_PICKLE, "pickle checkpoints are refused"},
	{VV_ERR_MODEL_VOCAB, "invalid model vocabulary"},
	{VV_ERR_MODEL_SEQLEN, "sequence longer than the model allows"},
	{VV_ERR_VCF_PARSE, "VCF does not parse"},
	{VV_ERR_VCF_FIELD, "VCF field violates the specification"},
	{VV_ERR_VCF_LIMIT, "VCF over a configured limit"},
	{VV_ERR_REF_MISMATCH, "REF does not match the reference"},
	{VV_ERR_REF_CONTIG, "contig not in the reference"},
	{VV_ERR_REF_IO, "reference unreadable"},
	{VV_ERR_POLICY, "invalid policy"},
	{VV_ERR_SCORES_FORMAT, "malformed score table or regions"},
	{VV_ERR_SCORES_MISMATCH, "score table made for another model, reference or policy"},
	{VV_ERR_SCORES_INDEX, "score table index missing or unusable"},
	{VV_ERR_DB, "database error"},
	{VV_ERR_DB_VERSION, "database was written by a newer version"},
	{VV_ERR_DB_BUSY, "state directory or database in use"},
	{VV_ERR_STATE, "job is not in a state that allows this"},
	{VV_ERR_DB_CORRUPT, "database corrupt"},
	{VV_ERR_NOSPACE, "no space left on device"},
	{VV_ERR_TLS, "TLS failure"},
	{VV_ERR_PEER_CERT, "peer certificate refused"},
	{VV_ERR_PROTO, "protocol error"},
	{VV_ERR_TIMEOUT, "timed out"},
	{VV_ERR_DENIED, "permission denied"},
	{VV_ERR_CLOSED, "connection closed by peer"},
	{VV_ERR_UNKNOWN_VERB, "unknown verb"},
	{VV_ERR_PROTO_VERSION, "unsupported protocol version"},
	{VV_ERR_FRAME_SIZE, "frame too large"},
	{VV_ERR_PKI, "certificate or key operation failed"},
	{VV_ERR_BUSY, "server busy"},
	{VV_ERR_WORKER, "interpreter worker failed"},
	{VV_ERR_TIME_LIMIT, "time limit exceeded"},
	{VV_ERR_CHECKSUM, "plaintext checksum does not match"},
	{VV_ERR_SANDBOX, "worker sandbox could not be set up"},
	{VV_ERR_SANDBOX_KILLED, "worker killed by its sandbox (forbidden system call)"},
	{VV_ERR_CPU_LIMIT, "worker CPU time limit exceeded"},
	{VV_ERR_MEMLOCK_LIMIT, "the memory-lock limit (LimitMEMLOCK=) is too low"},
	{VV_ERR_PRIVS, "cannot take on the service user"},
	{VV_ERR_ROOT, "refusing to serve as root"},
	{VV_ERR_SD_SOCKET, "unusable socket from systemd"},
	{VV_ERR_AUDIT, "audit log failed"},
	{VV_ERR_AUDIT_KEY, "audit key missing or malformed"},
	{VV_ERR_AUDIT_SIG, "checkpoint signature does not verify"},
	{VV_ERR_AUDIT_PROOF, "inclusion proof does not verify"},
	{VV_ERR_AUDIT_CONSISTENCY, "audit log rolled back or forked (consistency proof failed)"},
	{VV_ERR_AUDIT_TAMPERED, "audit log fails verification"},
};

const char *vv_strerror(int err)
{
	for (size_t i = 0; i < sizeof vv_errtab / sizeof vv_errtab[0]; i++)
		if (vv_errtab[i].code == err)
			return vv_errtab[i].name;
	return "unknown error";
}

/* One detail per thread: the daemon's threads must not see each other's. */
static _Thread_local char vv_detail[1024];

/* vv_errf and vv_err_prefix keep errno: a caller reporting VV_ERR_IO reads
 * errno after recording the detail, and vsnprintf may change it. */
int vv_errf(int err, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(vv_detail, sizeof vv_detail, fmt, ap);
	va_end(ap);
	errno = saved;
	return err;
}

int vv_err_prefix(int err, const char *fmt, ...)
{
	char old[sizeof vv_detail];
	int saved = errno;
	size_t n, room;
	va_list ap;

	memcpy(old, vv_detail, sizeof old);
	va_start(ap, fmt);
	vsnprintf(vv_detail, sizeof vv_detail, fmt, ap);
	va_end(ap);
	if (!old[0]) {
		errno = saved;
		return err;
	}
	/* Append ": old", truncating the old detail if the whole does not fit. */
	n = strlen(vv_detail);
	room = sizeof vv_detail - 1 - n;
	if (room > 2) {
		memcpy(vv_detail + n, ": ", 2);
		n += 2;
		room -= 2;
		size_t m = strlen(old);
		if (m > room)
			m = room;
		memcpy(vv_detail + n, old, m);
		vv_detail[n + m] = '\0';
	}
	errno = saved;
	return err;
}

const char *vv_err_detail(void)
{
	return vv_detail;
}

void vv_err_clear(void)
{
	vv_detail[0] = '\0';
}
