/* The smallest program to exec: bench/proc_loop runs it (linked statically, no loader). */
int main(void)
{
	return 0;
}
