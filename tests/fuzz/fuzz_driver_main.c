/* Replays files through LLVMFuzzerTestOneInput without libFuzzer, so the seed corpus runs in
 * every build (gcc included). Usage: fuzz_driver <file-or-directory>...
 * Exits 0 when every input ran (a crash aborts the process), 1 on usage or I/O errors or
 * when no input was found. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0, got;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    do {
        if (size == cap) {
            uint8_t *bigger = realloc(data, cap = cap ? cap * 2 : 4096);
            if (bigger == NULL) {
                free(data);
                fclose(f);
                return -1;
            }
            data = bigger;
        }
        got = fread(data + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    if (ferror(f)) {
        perror(path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* an exact-size copy, so ASan sees reads past the end of the input */
    uint8_t *exact = malloc(size > 0 ? size : 1);
    if (exact == NULL) {
        free(data);
        return -1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    printf("ok %s (%zu bytes)\n", path, size);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every regular file in dir, in name order; returns the count or -1. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int ran = 0;

    if (d == NULL) {
        perror(dir);
        return -1;
    }
    while ((ent = readdir(d)) != NULL) {
        if (ent->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **bigger = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (bigger == NULL)
                break;
            names = bigger;
        }
        names[n++] = strdup(ent->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, compare_names);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        free(names[i]);
        if (ran < 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        ran = run_file(path) == 0 ? ran + 1 : -1;
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    int total = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s <file-or-directory>...\n", argv[0]);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int ran;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        ran = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (ran < 0)
            return 1;
        total += ran;
    }
    printf("%d inputs replayed\n", total);
    return total > 0 ? 0 : 1;
}
