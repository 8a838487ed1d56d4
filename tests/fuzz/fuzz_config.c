/*
 * libFuzzer target: config_load() (iniparser underneath, then every key's validation) on
 * an arbitrary scep.conf. The input is written to one temporary file, reused for every
 * run and removed at exit. Any error message must name the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scep.h"
#include "config.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	path[] = "/tmp/fuzz_config.XXXXXX";
static int	made;

static void
cleanup(void)
{
	if (made)
		unlink(path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	log_init("fuzz_config", 0, LOG_LVL_ERR);
	if ((fd = mkstemp(path)) < 0) {
		perror("fuzz_config: mkstemp");
		exit(1);
	}
	close(fd);
	made = 1;
	atexit(cleanup);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*c;
	FILE		*f;
	char		 err[1024];
	size_t		 i;

	if (size > 64 * 1024)
		return 0;
	if ((f = fopen(path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	err[0] = '\0';
	if ((c = config_load(path, err, sizeof(err))) == NULL) {
		if (strstr(err, path) == NULL)
			abort();	/* every error names the file */
	} else {
		if (c->repository == NULL || c->nroles == 0 || c->nroles > MAX_ROLES ||
		    c->n_rdn_match > MAX_RDN_MATCH)
			abort();
		for (i = 0; i < c->nroles; i++)
			if (c->roles[i].name == NULL ||
			    config_role(c, c->roles[i].name) == NULL)
				abort();
		if (config_role(c, c->default_role) == NULL)
			abort();
		config_free(c);
	}
	return 0;
}
