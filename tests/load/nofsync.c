/*
 * nofsync.so: an LD_PRELOAD library that makes fsync(2), fdatasync(2), sync(2) and
 * syncfs(2) succeed without doing anything: the build a durability test must reject.
 * Test code (tests/load/durability.sh); never linked with the server.
 */
int	fsync(int);
int	fdatasync(int);
void	sync(void);
int	syncfs(int);

int
fsync(int fd)
{
	(void)fd;
	return 0;
}

int
fdatasync(int fd)
{
	(void)fd;
	return 0;
}

void
sync(void)
{
}

int
syncfs(int fd)
{
	(void)fd;
	return 0;
}
