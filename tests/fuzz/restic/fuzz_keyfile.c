/* Fuzz target: key file JSON and the master key JSON inside it. */
#include <stddef.h>
#include <stdint.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rr_keyfile kf;
	struct rr_mkey mk;
	if (rr_keyfile_parse((const char *)data, size, &kf) == 0)
		rr_keyfile_free(&kf);   /* scrypt is not run: it is slow by design */
	rr_masterkey_parse((const char *)data, size, &mk);
	return 0;
}
