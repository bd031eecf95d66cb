/* floor_true: a static true, the checker's PROG in every variant of the
 * session-rate benchmark (bench.py puts its folder first in PATH): the
 * least a checker's exec of its PROG can cost. */
int main(void) { return 0; }
