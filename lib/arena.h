/* Request-scoped memory: a bump allocator for the thousands of small allocations one request
 * makes (a parsed 10,000-contact body is ~100,000 jansson nodes; its unpacked protobuf reply
 * another 40,000 pieces).
 *
 * Why: measured on the gateway, malloc and free were ~40% of its CPU during bulk calls, and two
 * concurrent calls doubled the CPU each took, from contention on the malloc lock (the services
 * run with one malloc arena to keep memory warm and bounded; lib/service.h). Here an
 * allocation is a pointer bump, freeing is a no-op, and the memory comes from a process-wide
 * pool of 1 MiB chunks that stay paged in between requests.
 *
 * Ownership: everything allocated from an arena dies at arena_reset()/arena_destroy(); nothing
 * may keep a pointer into it beyond that, and nothing frees it piecemeal (free() on arena
 * memory is a bug). Whether a module returns arena or heap memory is part of its interface,
 * stated in its header, and the caller frees accordingly. An arena is used by one thread at a
 * time. */
#ifndef OD_ARENA_H
#define OD_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct arena;

struct arena *arena_new(void);
/* Gives every chunk back to the pool (or to malloc beyond its cap) and frees the arena. */
void arena_destroy(struct arena *a);
/* 16-byte aligned; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
/* Forgets every allocation; chunks go back to the pool. */
void arena_reset(struct arena *a);
/* 1 if p points into memory this arena handed out; 0 for a NULL arena. For tests and
 * assertions only: whether memory is arena or heap is decided by the caller, by which
 * function built it, and written down at that module's boundary (e.g. gateway/contacts_scan.h:
 * the reader's requests live in the arena; the jansson mappers' are heap). Never branch on
 * arena_owns(arena_current(), p) to decide whether to free. */
int arena_owns(const struct arena *a, const void *p);
/* Caps the bytes this arena hands out until its next reset (0: no cap, the default after
 * a reset): past it arena_alloc returns NULL, so one request's memory stays bounded (the
 * gateway sets it in proportion to the request's body; issue 13). */
void arena_set_budget(struct arena *a, size_t bytes);
/* Bytes handed out since the last reset (for tests and logs). */
size_t arena_used(const struct arena *a);

/* A protobuf-c allocator that allocates from `a` and frees nothing; fills and returns *out. */
ProtobufCAllocator *arena_protobuf_allocator(struct arena *a, ProtobufCAllocator *out);

/* ---- the calling thread's current arena ----
 * A thread that enters an arena makes it the home of the jansson values it creates (once
 * arena_json_install has run) and of RPC replies it unpacks (lib/rpc.h), until it leaves.
 * Rule: a jansson value created inside must be released inside, or never. */
void arena_enter(struct arena *a);
void arena_leave(void);
struct arena *arena_current(void);

/* Routes jansson's allocations through the current arena, when the thread has one. Call once,
 * before any other jansson use; processes that never call it are unaffected. */
void arena_json_install(void);
/* Frees memory jansson handed out (json_dumps text): a no-op for arena memory, free() for the
 * rest. Use it instead of free() for any jansson-made buffer. */
void arena_json_free(void *p);

#endif
