/*
 * yaml_walk — the performance floor for `sendpath validate`.
 *
 * For each path argument (a file, or a folder walked recursively), read the
 * whole file into memory, run libyaml's event parser over it and count the
 * events. Nothing is built and nothing is checked beyond YAML syntax, so no
 * manifest validator that reads YAML through libyaml can be faster than this.
 *
 * Files are chosen the way `sendpath` chooses them (ManifestLoader): a path that
 * is a file is read whatever its name; a folder is walked recursively, skipping
 * entries whose name starts with '.', keeping `.yaml` and `.yml` files, and the
 * files found under one folder are sorted bytewise by full path.
 *
 * Output: `events=N files=M` on stdout.
 * Exit:   0 ok; 1 YAML parse error (file:line:column: error: [yaml-syntax] ...
 *         on stderr, with libyaml's problem and mark); 2 usage or I/O error.
 *
 * Build:  cc -O2 -o Benchmarks/out/yaml_walk Benchmarks/yaml_walk.c \
 *             $(pkg-config --cflags --libs yaml-0.1)
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

/* Folders nested deeper than this are not followed (bounds symlink loops). */
#define MAX_DEPTH 64

struct path_list {
    char **items;
    size_t count;
    size_t capacity;
};

static void die_oom(void) {
    fputs("yaml_walk: out of memory\n", stderr);
    exit(2);
}

static void list_append(struct path_list *list, char *path) {
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        char **items = realloc(list->items, capacity * sizeof *items);
        if (!items) die_oom();
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = path;
}

static int compare_paths(const void *a, const void *b) {
    /* strcmp compares as unsigned char: the same bytewise order as the Swift loader. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcasecmp(name + n - s, suffix) == 0; /* like the loader: .YAML counts */
}

static char *join_path(const char *folder, const char *entry) {
    if (strcmp(folder, ".") == 0) {
        char *copy = strdup(entry);
        if (!copy) die_oom();
        return copy;
    }
    size_t f = strlen(folder), e = strlen(entry);
    char *path = malloc(f + 1 + e + 1);
    if (!path) die_oom();
    memcpy(path, folder, f);
    path[f] = '/';
    memcpy(path + f + 1, entry, e + 1);
    return path;
}

/* Collects the manifest files under `folder` (unsorted; the caller sorts). */
static void walk(const char *folder, struct path_list *files, int depth) {
    if (depth > MAX_DEPTH) {
        fprintf(stderr, "yaml_walk: %s: nested deeper than %d folders, skipped\n", folder, MAX_DEPTH);
        return;
    }
    DIR *dir = opendir(folder);
    if (!dir) {
        fprintf(stderr, "yaml_walk: %s: %s\n", folder, strerror(errno));
        exit(2);
    }
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (name[0] == '.') continue; /* also skips "." and ".." */
        char *path = join_path(folder, name);
        struct stat st;
        if (stat(path, &st) != 0) { /* dangling symlink and the like: skip, as sendpath does */
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk(path, files, depth + 1);
            free(path);
        } else if (has_suffix(name, ".yaml") || has_suffix(name, ".yml")) {
            list_append(files, path);
        } else {
            free(path);
        }
    }
    closedir(dir);
}

/* Reads a whole file; returns NULL (with errno set) on failure. */
static unsigned char *read_file(const char *path, size_t *size_out) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    size_t capacity = 1 << 16, size = 0;
    struct stat st;
    if (fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        capacity = (size_t)st.st_size + 1; /* +1 so a regular file is read in one pass plus EOF check */
    unsigned char *buffer = malloc(capacity);
    if (!buffer) die_oom();
    for (;;) {
        size_t n = fread(buffer + size, 1, capacity - size, file);
        size += n;
        if (size < capacity) {
            if (ferror(file)) {
                int saved = errno;
                free(buffer);
                fclose(file);
                errno = saved ? saved : EIO;
                return NULL;
            }
            break; /* EOF */
        }
        capacity *= 2;
        unsigned char *grown = realloc(buffer, capacity);
        if (!grown) die_oom();
        buffer = grown;
    }
    fclose(file);
    *size_out = size;
    return buffer;
}

/* Parses one file, adding its events to *events. Returns 0, or 1 on a YAML error. */
static int parse_file(const char *path, unsigned long long *events) {
    size_t size = 0;
    unsigned char *bytes = read_file(path, &size);
    if (!bytes) {
        fprintf(stderr, "yaml_walk: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) die_oom();
    yaml_parser_set_input_string(&parser, bytes, size);

    int status = 0;
    unsigned long long count = 0;
    for (;;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            const char *problem = parser.problem ? parser.problem : "unknown error";
            unsigned long line = (unsigned long)parser.problem_mark.line + 1;
            unsigned long column = (unsigned long)parser.problem_mark.column + 1;
            if (parser.error == YAML_READER_ERROR) {
                /* Encoding errors carry a byte offset, not a mark: derive line and (byte) column. */
                size_t offset = parser.problem_offset < size ? parser.problem_offset : size;
                line = 1;
                column = 1;
                for (size_t k = 0; k < offset; k++) {
                    if (bytes[k] == '\n') { line++; column = 1; } else column++;
                }
            }
            fprintf(stderr, "%s:%lu:%lu: error: [yaml-syntax] %s", path, line, column, problem);
            if (parser.error == YAML_READER_ERROR && parser.problem_value != -1)
                fprintf(stderr, " (#%X at byte offset %lu)", (unsigned)parser.problem_value,
                        (unsigned long)parser.problem_offset);
            if (parser.context)
                fprintf(stderr, " (%s at %lu:%lu)", parser.context,
                        (unsigned long)parser.context_mark.line + 1,
                        (unsigned long)parser.context_mark.column + 1);
            fputc('\n', stderr);
            status = 1;
            break;
        }
        int done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
        count++;
        if (done) break;
    }
    yaml_parser_delete(&parser);
    free(bytes);
    *events += count;
    return status;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: yaml_walk PATH...\n"
                "  Parses every .yaml/.yml file under each PATH with libyaml and prints\n"
                "  events=N files=M. Exit 1 on a YAML error, 2 on a usage or I/O error.\n");
        return argc < 2 ? 2 : 0;
    }
    unsigned long long events = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        /* Drop one trailing '/', as the Swift loader does, so paths print the same. */
        char *path = strdup(argv[i]);
        if (!path) die_oom();
        size_t length = strlen(path);
        if (length > 1 && path[length - 1] == '/') path[length - 1] = '\0';

        struct stat st;
        if (stat(path, &st) != 0) {
            fprintf(stderr, "yaml_walk: %s: %s\n", path, strerror(errno));
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (parse_file(path, &events) != 0) return 1;
            files++;
            free(path);
            continue;
        }
        struct path_list found = {0};
        walk(path, &found, 0);
        if (found.count > 1) qsort(found.items, found.count, sizeof *found.items, compare_paths);
        for (size_t j = 0; j < found.count; j++) {
            if (parse_file(found.items[j], &events) != 0) return 1;
            files++;
            free(found.items[j]);
        }
        free(found.items);
        free(path);
    }
    printf("events=%llu files=%llu\n", events, files);
    return 0;
}
