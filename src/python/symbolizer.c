// SPDX-License-Identifier: MIT
#include "symbolizer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elf_image.h"
#include "leakbpf_shared.h"
#include "linetable.h"
#include "log.h"
#include "proc.h"
#include "pytarget.h"
#include "strtab.h"
#include "tracer.h"
#include "u64map.h"
#include "target_file.h"
#include "utf8.h"

#define CODE_READ_SIZE 256	/* covers every code-object field we read */
#define OB_TYPE_OFFSET 8	/* PyObject.ob_type, every GIL build */
#define MAX_NAME_LEN 4096
#define MAX_LINETABLE (1 << 20)
/* What one process's code objects may hold in leakbpf (names and line
 * tables): a large service's thousands of functions take a few MiB, while
 * a program of 300 functions with 1 MiB line tables took `top` to 325 MB
 * and one making functions with unique 4 KiB names grew it by 190 MB in
 * 15 s. Past it, that process's new code objects are shown by address
 * only and counted (LB_CNT_CODE_OVER_BUDGET): it degrades its own report. */
#define CODE_BUDGET_PER_PROCESS (32u << 20)

struct code_info {
	uint64_t addr;			/* where it lay */
	uint32_t id;			/* lb_code_id: which code object it was */
	bool gone;			/* replaced before we named it: stays unknown */
	bool over_budget;		/* names or line table not kept: see CODE_BUDGET_PER_PROCESS */
	uint64_t filename_ptr, name_ptr, linetable_ptr;
	int firstlineno;
	int firsttraceable;		/* _co_firsttraceable (3.11+), 0 unknown */
	const char *file, *function;
	uint8_t *linetable;
	size_t linetable_len;
	bool linetable_partial;		/* a copy's prefix of the table */
	/* instruction offset + 1 -> line + 1: outer frames (imports, the
	 * request loop) recur in thousands of stacks, and decoding a line
	 * table walks it from the start */
	struct u64map lines;
};

struct sym_process {
	pid_t pid;
	bool python, gone;
	unsigned minor;
	uint64_t code_type;		/* PyCode_Type in the target, 0 unknown */
	struct lb_py_offsets off;
	struct u64map codes;		/* code_key(address, id) -> struct code_info */
	uint64_t code_gone;		/* frames whose code object was replaced before naming */
	size_t code_bytes;		/* names and line tables its code objects hold */
	uint64_t over_budget;		/* frames shown without names or line for it */
	struct proc_maps maps;		/* snapshot, refreshed on a miss */
	bool have_maps;
	uint64_t maps_batch;		/* batch of the last refresh */
};

struct symbolizer {
	struct tracer *tracer;
	struct u64map procs;		/* pid -> sym_process */
	struct u64map stacks;		/* stack key -> resolved_stack */
	struct u64map elves;		/* interned host path -> elf_image */
	uint64_t batch;			/* counts symbolizer_begin_batch calls */
	uint64_t code_gone;		/* all processes', forgotten ones included */
	uint64_t over_budget;		/* forgotten processes' */
};

static void free_code(void *v)
{
	struct code_info *c = v;

	u64map_clear(&c->lines, NULL);
	free(c->linetable);
	free(c);
}

static void free_process(void *v)
{
	struct sym_process *p = v;

	u64map_clear(&p->codes, free_code);
	proc_maps_free(&p->maps);
	free(p);
}

static void free_elf(void *v)
{
	elf_image_close(v);
}

static bool stack_known(void *ctx, uint64_t key)
{
	struct symbolizer *s = ctx;

	return u64map_get(&s->stacks, key) != NULL;
}

static void code_copied(void *ctx, const struct lb_code_event *ev, size_t size);

int symbolizer_new(struct tracer *tr, struct symbolizer **out)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->tracer = tr;
	/* what we named may leave the BPF maps: we keep the names */
	tracer_keep_stacks_known_to(tr, stack_known, s);
	tracer_on_code_copied(tr, code_copied, s);
	*out = s;
	return 0;
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	u64map_clear(&s->procs, free_process);
	u64map_clear(&s->stacks, free);
	u64map_clear(&s->elves, free_elf);
	free(s);
}

int symbolizer_add_process(struct symbolizer *s, pid_t pid, const struct py_target *py)
{
	struct sym_process *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->pid = pid;
	if (py) {
		p->python = true;
		p->minor = py->minor;
		p->code_type = py->code_type_addr;
		p->off = py->off;
	}
	return u64map_put(&s->procs, (uint64_t)pid + 1, p);
}

void symbolizer_begin_batch(struct symbolizer *s)
{
	s->batch++;
}

void symbolizer_process_gone(struct symbolizer *s, pid_t pid)
{
	struct sym_process *p = u64map_get(&s->procs, (uint64_t)pid + 1);

	if (p)
		p->gone = true;
}

void symbolizer_forget_process(struct symbolizer *s, pid_t pid)
{
	struct sym_process *p = u64map_remove(&s->procs, (uint64_t)pid + 1);
	uint64_t *keys;
	size_t i, n = 0;

	if (p) {
		s->code_gone += p->code_gone;
		s->over_budget += p->over_budget;
		free_process(p);
	}
	/* collect first: removing shifts entries under a walk */
	keys = malloc((s->stacks.used + 1) * sizeof(*keys));
	if (!keys)
		return;		/* kept: memory, not correctness */
	for (i = 0; i < s->stacks.cap; i++) {
		const struct resolved_stack *r = s->stacks.slots[i].value;

		if (s->stacks.slots[i].key && r && r->pid == (uint32_t)pid &&
		    r->key != LB_STACK_KEY_OVERFLOW)
			keys[n++] = s->stacks.slots[i].key;
	}
	for (i = 0; i < n; i++)
		free(u64map_remove(&s->stacks, keys[i]));
	free(keys);
}

/* ---- Python objects read out of the target ---- */

/* Where a code object's bytes come from: the live process, or the copy a
 * probe took when it first saw the code object in a stack (it may be gone
 * by now). A copy answers only reads that lie inside what it holds. */
struct code_source {
	pid_t pid;
	const struct lb_code_event *copy;	/* NULL: the live process */
	size_t copy_size;			/* valid bytes of *copy */
	/* in the copy: the objects the code object points to */
	uint64_t filename_ptr, name_ptr, linetable_ptr;
};

/* The copied object holding addr with the most bytes from addr on: the
 * four copies can overlap (the 256 bytes copied of a small code object run
 * into the next object, often its own name), and the shorter one must not
 * answer for the longer. NULL if none holds addr. */
static const uint8_t *copy_at(const struct code_source *src, uint64_t addr, size_t *avail)
{
	const struct lb_code_event *ev = src->copy;
	size_t lt_len = src->copy_size - offsetof(struct lb_code_event, linetable);
	struct { uint64_t at; size_t len; const uint8_t *bytes; } seg[4] = {
		{ ev->code, sizeof(ev->code_bytes), ev->code_bytes },
		{ src->filename_ptr, ev->filename_len <= sizeof(ev->filename) ? ev->filename_len : 0,
		  ev->filename },
		{ src->name_ptr, ev->name_len <= sizeof(ev->name) ? ev->name_len : 0, ev->name },
		{ src->linetable_ptr, 0, ev->linetable },
	};
	const uint8_t *best = NULL;
	size_t i;

	seg[3].len = lt_len < ev->linetable_len ? lt_len : ev->linetable_len;
	*avail = 0;
	for (i = 0; i < 4; i++)
		if (seg[i].at && addr >= seg[i].at && addr - seg[i].at < seg[i].len &&
		    seg[i].len - (size_t)(addr - seg[i].at) > *avail) {
			*avail = seg[i].len - (size_t)(addr - seg[i].at);
			best = seg[i].bytes + (addr - seg[i].at);
		}
	return best;
}

/* Bytes of the copy from addr on (0 if addr is not in it); SIZE_MAX live. */
static size_t source_available(const struct code_source *src, uint64_t addr)
{
	size_t avail;

	if (!src->copy)
		return SIZE_MAX;
	copy_at(src, addr, &avail);
	return avail;
}

static int source_read(const struct code_source *src, uint64_t addr, void *buf, size_t len)
{
	const uint8_t *from;
	size_t avail;

	if (!src->copy)
		return proc_read_mem(src->pid, addr, buf, len);
	from = copy_at(src, addr, &avail);
	if (!from || avail < len)
		return -EFAULT;
	memcpy(buf, from, len);
	return 0;
}

static const char *read_unicode(const struct sym_process *p, const struct code_source *src,
				uint64_t addr)
{
	const struct lb_py_offsets *o = &p->off;
	uint8_t head[96];
	uint32_t state, kind;
	int64_t len;
	uint8_t *raw;
	char *utf8, *w;
	const char *out;
	int64_t i;
	/* the offsets may come from the target (_Py_DebugOffsets): bounded
	 * by our buffer before use; and only the header's own bytes are read
	 * (a copied name cut at its page's end holds little more) */
	int need = o->unicode_length + 8 > o->unicode_state + 4 ? o->unicode_length + 8 :
		   o->unicode_state + 4;

	if (o->unicode_length < 0 || o->unicode_state < 0 || need > (int)sizeof(head))
		return NULL;
	if (!addr || source_read(src, addr, head, (size_t)need))
		return NULL;
	memcpy(&len, head + o->unicode_length, sizeof(len));
	memcpy(&state, head + o->unicode_state, sizeof(state));
	kind = (state >> 2) & 7;
	if (len < 0 || len > MAX_NAME_LEN || !(state & 0x20) || (kind != 1 && kind != 2 && kind != 4))
		return NULL;	/* not a compact string: code names always are */
	raw = malloc((size_t)len * kind + 1);
	utf8 = malloc((size_t)len * UTF8_PRINTABLE_MAX + 1);
	if (!raw || !utf8)
		goto fail;
	if (source_read(src, addr + (uint64_t)((state & 0x40) ? o->unicode_ascii_data :
						o->unicode_compact_data),
			raw, (size_t)len * kind))
		goto fail;
	/* PEP 393 stores code points at a fixed width: re-encode as UTF-8,
	 * control characters escaped (the name is the target's to choose) */
	for (i = 0, w = utf8; i < len; i++)
		w += utf8_put_printable(w, kind == 1 ? raw[i] : kind == 2 ? ((uint16_t *)raw)[i] :
					   ((uint32_t *)raw)[i]);
	*w = '\0';
	out = strtab_intern(utf8);
	free(raw);
	free(utf8);
	return out;
fail:
	free(raw);
	free(utf8);
	return NULL;
}

/* A bytes object's contents. From a copy, as much as it holds: *partial
 * says the copy cut the object short. */
static int read_bytes_object(const struct sym_process *p, const struct code_source *src,
			     uint64_t addr, uint8_t **data, size_t *len, bool *partial)
{
	size_t avail, want;
	int64_t size;

	*data = NULL;
	*len = 0;
	*partial = false;
	if (!addr || source_read(src, addr + (uint64_t)p->off.bytes_size, &size, sizeof(size)))
		return -EFAULT;
	if (size < 0 || size > MAX_LINETABLE)
		return -EINVAL;
	want = (size_t)size;
	avail = source_available(src, addr + (uint64_t)p->off.bytes_data);
	if (avail < want) {
		want = avail;
		*partial = true;
	}
	*data = malloc(want + 1);
	if (!*data)
		return -ENOMEM;
	if (want && source_read(src, addr + (uint64_t)p->off.bytes_data, *data, want)) {
		free(*data);
		*data = NULL;
		return -EFAULT;
	}
	*len = want;
	return 0;
}

static uint64_t field_ptr(const uint8_t *buf, int16_t off)
{
	uint64_t v = 0;

	if (off >= 0 && off + 8 <= CODE_READ_SIZE)
		memcpy(&v, buf + off, sizeof(v));
	return v;
}

static uint64_t code_key(uint64_t addr, uint32_t id)
{
	return (addr ^ ((uint64_t)id << 32)) | 1;	/* never 0 */
}

static int16_t name_offset(const struct lb_py_offsets *o)
{
	return o->code_qualname != LB_NO_OFFSET ? o->code_qualname : o->code_name;
}

/* Whether buf (CODE_READ_SIZE bytes read at a code object) is the code
 * object identified by id: the type checked when known, the identity
 * recomputed from the same fields BPF hashed. */
static bool is_that_code(const struct sym_process *p, const uint8_t *buf, uint32_t id)
{
	const struct lb_py_offsets *o = &p->off;
	__u64 idf[3];

	if (o->code_filename < 0 || o->code_filename + LB_CODE_ID_BYTES > CODE_READ_SIZE)
		return false;
	memcpy(idf, buf + o->code_filename, sizeof(idf));
	return !(p->code_type && field_ptr(buf, OB_TYPE_OFFSET) != p->code_type) &&
	       !(id && lb_code_id(idf) != id);
}

/* Charges c's names and line table to its process; a table that would
 * take the process past its budget is not kept (its frames show line 0). */
static void charge_code(struct sym_process *p, struct code_info *c)
{
	size_t names = (c->file ? strlen(c->file) : 0) + (c->function ? strlen(c->function) : 0);

	p->code_bytes += sizeof(*c) + names;
	if (p->code_bytes + c->linetable_len > CODE_BUDGET_PER_PROCESS) {
		free(c->linetable);
		c->linetable = NULL;
		c->linetable_len = 0;
		c->linetable_partial = false;
		c->over_budget = true;
		return;
	}
	p->code_bytes += c->linetable_len;
}

/* Fills c's names and line table from buf (the code object's bytes) and
 * the objects it points to, read from src. */
static void fill_code_info(struct sym_process *p, const struct code_source *src,
			   const uint8_t *buf, struct code_info *c)
{
	const struct lb_py_offsets *o = &p->off;
	int32_t first = 0;

	c->filename_ptr = field_ptr(buf, o->code_filename);
	c->name_ptr = field_ptr(buf, name_offset(o));
	c->linetable_ptr = field_ptr(buf, o->code_linetable);
	if (o->code_firstlineno >= 0 && o->code_firstlineno + 4 <= CODE_READ_SIZE)
		memcpy(&first, buf + o->code_firstlineno, sizeof(first));
	c->firstlineno = first;
	if (o->code_firsttraceable != LB_NO_OFFSET &&
	    o->code_firsttraceable + 4 <= CODE_READ_SIZE)
		memcpy(&c->firsttraceable, buf + o->code_firsttraceable, sizeof(int32_t));
	if (p->code_bytes >= CODE_BUDGET_PER_PROCESS) {
		c->over_budget = true;	/* shown by address, counted per frame */
		return;
	}
	c->file = read_unicode(p, src, c->filename_ptr);
	c->function = read_unicode(p, src, c->name_ptr);
	if (read_bytes_object(p, src, c->linetable_ptr, &c->linetable, &c->linetable_len,
			      &c->linetable_partial))
		c->linetable_len = 0;
	charge_code(p, c);
}

/* A new cache entry for (addr, id), replacing a colliding one. */
static struct code_info *new_code_info(struct sym_process *p, uint64_t addr, uint32_t id)
{
	uint64_t key = code_key(addr, id);
	struct code_info *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (u64map_get(&p->codes, key))
		free_code(u64map_remove(&p->codes, key));	/* a key collision: newest wins */
	if (u64map_put(&p->codes, key, c)) {
		free(c);
		return NULL;
	}
	c->addr = addr;
	c->id = id;
	return c;
}

static struct code_info *cached_code_info(struct sym_process *p, uint64_t addr, uint32_t id)
{
	struct code_info *c = u64map_get(&p->codes, code_key(addr, id));

	return c && c->addr == addr && c->id == id ? c : NULL;
}

/* A code object's names and line table, cached by address and identity
 * (lb_code_id, captured with the stack). A code object freed and another
 * made at its address is a different entry, so names are never lent from
 * one to the other. Entries come from the probes' copies (code_copied) or,
 * failing that, from the live process; one already gone when first named
 * stays unknown, and is counted. Code objects never change. */
static struct code_info *code_info(struct sym_process *p, uint64_t addr, uint32_t id)
{
	struct code_source live = { .pid = p->pid };
	struct code_info *c = cached_code_info(p, addr, id);
	uint8_t buf[CODE_READ_SIZE];
	bool gone;

	if (c)
		return c;
	if (p->gone)
		return NULL;
	if (proc_read_mem(p->pid, addr, buf, sizeof(buf))) {
		pr_debug("process %d: code object at 0x%" PRIx64 " unreadable", p->pid, addr);
		return NULL;
	}
	/* a code object freed before we got to it (a module body, exec'd
	 * source) may hold anything now: only the same live code object.
	 * Remembered either way: other stacks share the frame. */
	gone = !is_that_code(p, buf, id);
	if (gone)
		pr_debug("process %d: the code object at 0x%" PRIx64 " was freed or replaced",
			 p->pid, addr);
	c = new_code_info(p, addr, id);
	if (!c)
		return NULL;
	c->gone = gone;
	if (!gone)
		fill_code_info(p, &live, buf, c);
	return c;
}

static void code_copied(void *ctx, const struct lb_code_event *ev, size_t size)
{
	struct symbolizer *s = ctx;
	struct sym_process *p = u64map_get(&s->procs, (uint64_t)ev->pid + 1);
	const struct lb_py_offsets *o;
	struct code_source copy = { .copy = ev, .copy_size = size };
	struct code_info *c;

	if (!p || !p->python || cached_code_info(p, ev->code, ev->code_id))
		return;
	/* the copy is the target's memory, read a moment ago: as hostile as
	 * any other read, and checked the same way */
	if (!is_that_code(p, ev->code_bytes, ev->code_id)) {
		pr_debug("process %d: the copy of code object 0x%" PRIx64 " is not that code object",
			 p->pid, (uint64_t)ev->code);
		return;
	}
	o = &p->off;
	copy.pid = p->pid;
	copy.filename_ptr = field_ptr(ev->code_bytes, o->code_filename);
	copy.name_ptr = field_ptr(ev->code_bytes, name_offset(o));
	copy.linetable_ptr = field_ptr(ev->code_bytes, o->code_linetable);
	c = new_code_info(p, ev->code, ev->code_id);
	if (!c)
		return;
	fill_code_info(p, &copy, ev->code_bytes, c);
	if (!c->file || !c->function) {	/* a name longer than the copy: read it live, later */
		pr_debug("process %d: code object 0x%" PRIx64 ": names not in its copy (%u, %u bytes)",
			 p->pid, (uint64_t)ev->code, ev->filename_len, ev->name_len);
		free_code(u64map_remove(&p->codes, code_key(ev->code, ev->code_id)));
	}
}

/* The instruction offsets a 3.8/3.9 lnotab prefix covers: its address
 * increments (even bytes) add up to them. */
static int lnotab_covered(const uint8_t *t, size_t len)
{
	int covered = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		covered += t[i];
	return covered;
}

/* A copied line table cut short (a big module body): read the whole one
 * from the live code object if it is still that one. */
static void complete_linetable(struct sym_process *p, struct code_info *c)
{
	struct code_source live = { .pid = p->pid };
	uint8_t buf[CODE_READ_SIZE];
	uint8_t *table;
	size_t len;
	bool partial;

	if (p->gone || proc_read_mem(p->pid, c->addr, buf, sizeof(buf)) ||
	    !is_that_code(p, buf, c->id) ||
	    read_bytes_object(p, &live, field_ptr(buf, p->off.code_linetable), &table, &len,
			      &partial))
		return;
	if (p->code_bytes + len > CODE_BUDGET_PER_PROCESS) {
		free(table);
		c->over_budget = true;
		return;
	}
	p->code_bytes += len - (c->linetable_len < len ? c->linetable_len : len);
	free(c->linetable);
	c->linetable = table;
	c->linetable_len = len;
	c->linetable_partial = false;
}

/* The line of an instruction; 0 unknown. */
static int code_line(struct sym_process *p, struct code_info *c, int instr_offset)
{
	int line = 0, err;

	if (c->linetable_partial && p->minor < 10 &&
	    instr_offset >= lnotab_covered(c->linetable, c->linetable_len))
		complete_linetable(p, c);
	if (c->linetable_partial && p->minor < 10 &&
	    instr_offset >= lnotab_covered(c->linetable, c->linetable_len))
		return 0;	/* past the copy: an lnotab would run its last line on */
	err = py_linetable_line(p->minor, c->linetable, c->linetable_len, c->firstlineno,
				instr_offset, &line);
	if (err && c->linetable_partial) {
		complete_linetable(p, c);
		err = py_linetable_line(p->minor, c->linetable, c->linetable_len,
					c->firstlineno, instr_offset, &line);
	}
	return err || line < 0 ? 0 : line;
}

/* Fills out; false for a frame the interpreter itself does not show. */
static bool python_frame(struct sym_process *p, const struct lb_frame *f,
			 struct resolved_frame *out)
{
	struct code_info *c = code_info(p, f->code, f->code_id);
	char buf[40];
	int line = 0;

	/* An "incomplete" frame, still before _co_firsttraceable, is hidden
	 * by CPython (_PyFrame_IsIncomplete): 3.13's __init__ cleanup shim is
	 * always one, and a function still in its prologue is one. */
	if (c && c->firsttraceable > 0 && f->instr_offset >= 0 &&
	    f->instr_offset < 2 * c->firsttraceable)
		return false;
	if (c && c->gone)
		p->code_gone++;
	if (c && c->over_budget)
		p->over_budget++;
	if (!c || !c->file) {
		snprintf(buf, sizeof(buf), "<code 0x%" PRIx64 ">", (uint64_t)f->code);
		out->file = strtab_intern("<unknown>");
		out->function = strtab_intern(buf);
		out->line = 0;
		return true;
	}
	if (f->instr_offset < 0) {
		line = c->firstlineno;
	} else {
		uintptr_t known = (uintptr_t)u64map_get(&c->lines, (uint64_t)f->instr_offset + 1);

		if (known) {
			line = (int)(known - 1);
		} else {
			line = code_line(p, c, f->instr_offset);
			u64map_put(&c->lines, (uint64_t)f->instr_offset + 1,
				   (void *)(uintptr_t)(line + 1));
		}
	}
	out->file = c->file;
	out->function = c->function ? c->function : strtab_intern("<unknown>");
	out->line = line;
	return true;
}

/* ---- native frames ---- */

static struct elf_image *elf_for(struct symbolizer *s, pid_t pid, const struct proc_mapping *m)
{
	char host[PATH_MAX];
	const char *key;
	struct elf_image *img;

	/* the file mapped, never another one its path leads to */
	if (target_mapped_file(pid, m, host, sizeof(host)))
		return NULL;
	key = strtab_intern(host);
	if (!key)
		return NULL;
	img = u64map_get(&s->elves, (uint64_t)(uintptr_t)key);
	if (img)
		return img;
	if (elf_image_open(host, &img))
		return NULL;
	if (u64map_put(&s->elves, (uint64_t)(uintptr_t)key, img)) {
		elf_image_close(img);
		return NULL;
	}
	return img;
}

static const struct proc_mapping *mapping_of(struct sym_process *p, uint64_t ip, uint64_t batch)
{
	const struct proc_mapping *m = NULL;

	if (p->have_maps)
		m = proc_maps_find_addr(&p->maps, ip);
	if (!m && !p->gone && p->maps_batch != batch) {
		/* libraries loaded since the last snapshot; at most once a batch,
		 * for an address no mapping holds (a JIT, a bad unwind) misses
		 * every time, and reading maps costs milliseconds */
		p->maps_batch = batch;
		proc_maps_free(&p->maps);
		p->have_maps = !proc_maps_read(p->pid, &p->maps);
		if (p->have_maps)
			m = proc_maps_find_addr(&p->maps, ip);
	}
	return m;
}

static void native_frame(struct symbolizer *s, struct sym_process *p, uint64_t ip,
			 bool return_address, struct resolved_frame *out)
{
	const struct proc_mapping *m = mapping_of(p, ip, s->batch);
	struct elf_image *img = NULL;
	const char *name;
	uint64_t vaddr, off;
	char buf[512];

	out->line = 0;
	/* paths and symbols are the target's to choose: printable, bounded */
	if (m && m->path) {
		utf8_copy_printable(m->path, buf, sizeof(buf));
		out->file = strtab_intern(buf);
		img = elf_for(s, p->pid, m);
	} else {
		out->file = strtab_intern(m ? "[anon]" : "[unknown]");
	}
	/* a return address points after the call: look the call itself up */
	if (img && !elf_image_offset_to_vaddr(img, ip - m->start + m->offset, &vaddr) &&
	    !elf_image_symbolize(img, vaddr - (return_address ? 1 : 0), &name, &off)) {
		utf8_copy_printable(name, buf, sizeof(buf));
		out->function = strtab_intern(buf);
		return;
	}
	snprintf(buf, sizeof(buf), "0x%" PRIx64, m ? ip - m->start + m->offset : ip);
	out->function = strtab_intern(buf);
}

static struct resolved_stack *unattributed(uint64_t key)
{
	struct resolved_stack *r = calloc(1, sizeof(*r) + sizeof(struct resolved_frame));

	if (!r)
		return NULL;
	r->key = key;
	r->nframes = 1;
	r->frames[0].file = strtab_intern("[leakbpf]");
	r->frames[0].function = strtab_intern(key == LB_STACK_KEY_OVERFLOW ?
		"[unattributed: stack map full, raise --max-stacks]" : "[stack no longer known]");
	return r;
}

static struct resolved_stack *resolve(struct symbolizer *s, uint64_t key)
{
	static struct lb_stack st;	/* 1.3 KiB: keep it off the C stack */
	struct sym_process *p;
	struct resolved_stack *r;
	int nnative = 0, i, n;

	if (key == LB_STACK_KEY_OVERFLOW || tracer_get_stack(s->tracer, key, &st))
		return unattributed(key);
	p = u64map_get(&s->procs, (uint64_t)st.pid + 1);
	nnative = st.native_depth < LB_MAX_NATIVE_DEPTH ? (int)st.native_depth : LB_MAX_NATIVE_DEPTH;
	n = st.depth + nnative;
	r = calloc(1, sizeof(*r) + (size_t)(n ? n : 1) * sizeof(struct resolved_frame));
	if (!r)
		return NULL;
	r->key = key;
	r->pid = st.pid;
	r->flags = st.flags;
	r->python = st.depth > 0;
	/* innermost first: the native frames (C code that called malloc) sit
	 * inside the Python frame that called into C */
	for (i = 0; i < nnative && p; i++)
		native_frame(s, p, st.native[i], i > 0, &r->frames[r->nframes++]);
	for (i = 0; i < st.depth && p; i++)
		if (python_frame(p, &st.frames[i], &r->frames[r->nframes]))
			r->nframes++;
	if (!r->nframes) {
		r->frames[0].file = strtab_intern("[unknown]");
		r->frames[0].function = strtab_intern(p ? "[no stack captured]" : "[untraced process]");
		r->nframes = 1;
	}
	return r;
}

const struct resolved_stack *symbolizer_stack(struct symbolizer *s, uint64_t key)
{
	struct resolved_stack *r = u64map_get(&s->stacks, key);

	if (r)
		return r;
	r = resolve(s, key);
	if (r && u64map_put(&s->stacks, key, r)) {
		free(r);
		return NULL;
	}
	return r;
}

static uint64_t sum_processes(const struct symbolizer *s, pid_t pid, bool over_budget)
{
	uint64_t n = pid ? 0 : over_budget ? s->over_budget : s->code_gone;
	size_t i;

	for (i = 0; i < s->procs.cap; i++) {
		const struct sym_process *p = s->procs.slots[i].value;

		if (s->procs.slots[i].key && p && (!pid || p->pid == pid))
			n += over_budget ? p->over_budget : p->code_gone;
	}
	return n;
}

uint64_t symbolizer_code_gone(const struct symbolizer *s, pid_t pid)
{
	return sum_processes(s, pid, false);
}

uint64_t symbolizer_code_over_budget(const struct symbolizer *s, pid_t pid)
{
	return sum_processes(s, pid, true);
}

void symbolizer_describe_innermost(const struct resolved_stack *st, char *buf, size_t len)
{
	const struct resolved_frame *f = st && st->nframes ? &st->frames[0] : NULL;

	if (!f)
		snprintf(buf, len, "<unknown>");
	else if (f->line > 0)
		snprintf(buf, len, "%s:%d %s", f->file, f->line, f->function);
	else
		snprintf(buf, len, "%s (%s)", f->function, f->file);
}
