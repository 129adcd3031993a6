#include "arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Under AddressSanitizer, memory given back is poisoned, so a use after arena_reset is
 * reported like a use after free. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_CHUNK_SIZE ((size_t)1 << 20)
#define ARENA_ALIGN 16
/* Allocations above this get a block of their own, so a big one never wastes a chunk's tail. */
#define ARENA_LARGE (ARENA_CHUNK_SIZE / 4)
/* Chunks the pool keeps for the next request: 64 MiB, enough for several concurrent bulk
 * requests; beyond it chunks go back to malloc. */
#define ARENA_POOL_MAX 64

/* A chunk, or a large block: the header sits in front of the memory it describes. */
struct arena_block {
    struct arena_block *next;
    char *start, *end; /* the usable bytes */
};

struct arena {
    struct arena_block *chunks; /* newest first; allocations come from the first */
    struct arena_block *large;
    char *cursor; /* next free byte of chunks */
    size_t used;
    size_t budget; /* 0: none */
    /* the block of the last arena_json_free hit: frees of a jansson tree come in roughly
     * allocation order, so most land in the same block as the one before */
    const struct arena_block *last_hit;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct arena_block *pool;
static int pool_size;

static __thread struct arena *current;

static size_t arena_header_size(void)
{
    return (sizeof(struct arena_block) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

static struct arena_block *arena_block_new(size_t usable)
{
    struct arena_block *b = malloc(arena_header_size() + usable);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->start = (char *)b + arena_header_size();
    b->end = b->start + usable;
    return b;
}

static struct arena_block *arena_chunk_take(void)
{
    struct arena_block *b = NULL;
    pthread_mutex_lock(&pool_lock);
    if (pool != NULL) {
        b = pool;
        pool = b->next;
        pool_size--;
    }
    pthread_mutex_unlock(&pool_lock);
    if (b == NULL)
        b = arena_block_new(ARENA_CHUNK_SIZE);
    if (b != NULL)
        b->next = NULL;
    return b;
}

/* Returns a list of chunks to the pool, freeing what exceeds its cap. */
static void arena_chunks_give_back(struct arena_block *list)
{
    for (struct arena_block *b = list; b != NULL; b = b->next)
        ARENA_POISON(b->start, (size_t)(b->end - b->start));
    pthread_mutex_lock(&pool_lock);
    while (list != NULL && pool_size < ARENA_POOL_MAX) {
        struct arena_block *next = list->next;
        list->next = pool;
        pool = list;
        pool_size++;
        list = next;
    }
    pthread_mutex_unlock(&pool_lock);
    while (list != NULL) {
        struct arena_block *next = list->next;
        ARENA_UNPOISON(list->start, (size_t)(list->end - list->start));
        free(list);
        list = next;
    }
}

struct arena *arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->large;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->large = NULL;
    arena_chunks_give_back(a->chunks);
    a->chunks = NULL;
    a->cursor = NULL;
    a->used = 0;
    a->budget = 0;
    a->last_hit = NULL;
}

void arena_set_budget(struct arena *a, size_t bytes)
{
    a->budget = bytes;
}

void arena_destroy(struct arena *a)
{
    if (a == NULL)
        return;
    if (current == a)
        current = NULL;
    arena_reset(a);
    free(a);
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    char *p;

    if (rounded < size) /* overflow */
        return NULL;
    if (a->budget != 0 && (rounded > a->budget || a->used > a->budget - rounded))
        return NULL;
    if (rounded > ARENA_LARGE) {
        struct arena_block *b = arena_block_new(rounded);
        if (b == NULL)
            return NULL;
        b->next = a->large;
        a->large = b;
        a->used += rounded;
        return b->start;
    }
    if (a->chunks == NULL || (size_t)(a->chunks->end - a->cursor) < rounded) {
        struct arena_block *b = arena_chunk_take();
        if (b == NULL)
            return NULL;
        b->next = a->chunks;
        a->chunks = b;
        a->cursor = b->start;
    }
    p = a->cursor;
    ARENA_UNPOISON(p, rounded);
    a->cursor += rounded;
    a->used += rounded;
    return p;
}

static int arena_block_holds(const struct arena_block *b, const void *p)
{
    return (uintptr_t)p >= (uintptr_t)b->start && (uintptr_t)p < (uintptr_t)b->end;
}

static const struct arena_block *arena_block_of(const struct arena *a, const void *p)
{
    for (const struct arena_block *b = a->chunks; b != NULL; b = b->next)
        if (arena_block_holds(b, p))
            return b;
    for (const struct arena_block *b = a->large; b != NULL; b = b->next)
        if (arena_block_holds(b, p))
            return b;
    return NULL;
}

int arena_owns(const struct arena *a, const void *p)
{
    return a != NULL && arena_block_of(a, p) != NULL;
}

size_t arena_used(const struct arena *a)
{
    return a->used;
}

static void *arena_protobuf_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

static void arena_protobuf_free(void *data, void *p)
{
    (void)data;
    (void)p; /* arena_reset frees it all */
}

ProtobufCAllocator *arena_protobuf_allocator(struct arena *a, ProtobufCAllocator *out)
{
    out->alloc = arena_protobuf_alloc;
    out->free = arena_protobuf_free;
    out->allocator_data = a;
    return out;
}

void arena_enter(struct arena *a)
{
    current = a;
}

void arena_leave(void)
{
    current = NULL;
}

struct arena *arena_current(void)
{
    return current;
}

static void *arena_json_malloc(size_t size)
{
    return current != NULL ? arena_alloc(current, size) : malloc(size);
}

void arena_json_free(void *p)
{
    if (p == NULL)
        return;
    if (current != NULL) {
        const struct arena_block *b = current->last_hit;
        if (b != NULL && arena_block_holds(b, p))
            return;
        if ((b = arena_block_of(current, p)) != NULL) {
            current->last_hit = b;
            return;
        }
    }
    free(p);
}

void arena_json_install(void)
{
    json_set_alloc_funcs(arena_json_malloc, arena_json_free);
}
