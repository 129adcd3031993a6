/* Crash points for tests: a worker must survive being killed at any moment (DESIGN.md), and a
 * test that kills a process from outside lands wherever it lands. A failpoint lets a test kill
 * it at one named step instead, every time.
 *
 * OUTDIAL_FAILPOINT=<name> makes failpoint(<name>) end the process at once with _exit(137), as
 * SIGKILL would: no handlers, no flush, no cleanup. Unset (production), a failpoint is one
 * load and compare. Names are "<service>.<step>" and listed where they are placed. */
#ifndef OUTDIAL_FAILPOINT_H
#define OUTDIAL_FAILPOINT_H

void failpoint(const char *name);

#endif
