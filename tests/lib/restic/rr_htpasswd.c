/* rr_htpasswd USER PASSWORD — prints one bcrypt htpasswd line ("USER:$2b$…"),
 * for tests on hosts without htpasswd(1). */
#include <crypt.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: rr_htpasswd USER PASSWORD\n");
		return 1;
	}
	char *salt = crypt_gensalt("$2b$", 5, NULL, 0);
	const char *h = salt ? crypt(argv[2], salt) : NULL;
	if (!h || h[0] != '$') {
		fprintf(stderr, "rr_htpasswd: bcrypt is not available\n");
		return 1;
	}
	printf("%s:%s\n", argv[1], h);
	return 0;
}
