// SPDX-License-Identifier: MIT
#include "symbolizer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

#define CODE_READ_SIZE 256	/* covers every code-object field we read */
#define OB_TYPE_OFFSET 8	/* PyObject.ob_type, every GIL build */
#define MAX_NAME_LEN 4096
#define MAX_LINETABLE (1 << 20)

struct code_info {
	uint64_t addr;			/* where it lay */
	uint32_t id;			/* lb_code_id: which code object it was */
	bool gone;			/* replaced before we named it: stays unknown */
	uint64_t filename_ptr, name_ptr, linetable_ptr;
	int firstlineno;
	int firsttraceable;		/* _co_firsttraceable (3.11+), 0 unknown */
	const char *file, *function;
	uint8_t *linetable;
	size_t linetable_len;
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

int symbolizer_new(struct tracer *tr, struct symbolizer **out)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->tracer = tr;
	/* what we named may leave the BPF maps: we keep the names */
	tracer_keep_stacks_known_to(tr, stack_known, s);
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

static const char *read_unicode(const struct sym_process *p, uint64_t addr)
{
	const struct lb_py_offsets *o = &p->off;
	uint8_t head[96];
	uint32_t state, kind;
	int64_t len;
	uint8_t *raw;
	char *utf8, *w;
	const char *out;
	int64_t i;

	if (!addr || proc_read_mem(p->pid, addr, head, sizeof(head)))
		return NULL;
	memcpy(&len, head + o->unicode_length, sizeof(len));
	memcpy(&state, head + o->unicode_state, sizeof(state));
	kind = (state >> 2) & 7;
	if (len < 0 || len > MAX_NAME_LEN || !(state & 0x20) || (kind != 1 && kind != 2 && kind != 4))
		return NULL;	/* not a compact string: code names always are */
	raw = malloc((size_t)len * kind + 1);
	utf8 = malloc((size_t)len * 4 + 1);
	if (!raw || !utf8)
		goto fail;
	if (proc_read_mem(p->pid, addr + (uint64_t)((state & 0x40) ? o->unicode_ascii_data :
						     o->unicode_compact_data),
			  raw, (size_t)len * kind))
		goto fail;
	/* PEP 393 stores code points at a fixed width: re-encode as UTF-8 */
	for (i = 0, w = utf8; i < len; i++) {
		uint32_t cp = kind == 1 ? raw[i] : kind == 2 ? ((uint16_t *)raw)[i] :
			      ((uint32_t *)raw)[i];

		if (cp < 0x80) {
			*w++ = (char)cp;
		} else if (cp < 0x800) {
			*w++ = (char)(0xc0 | cp >> 6);
			*w++ = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			*w++ = (char)(0xe0 | cp >> 12);
			*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*w++ = (char)(0x80 | (cp & 0x3f));
		} else {
			*w++ = (char)(0xf0 | cp >> 18);
			*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
			*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
			*w++ = (char)(0x80 | (cp & 0x3f));
		}
	}
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

static int read_bytes_object(const struct sym_process *p, uint64_t addr, uint8_t **data,
			     size_t *len)
{
	int64_t size;

	*data = NULL;
	*len = 0;
	if (!addr || proc_read_mem(p->pid, addr + (uint64_t)p->off.bytes_size, &size, sizeof(size)))
		return -EFAULT;
	if (size < 0 || size > MAX_LINETABLE)
		return -EINVAL;
	*data = malloc((size_t)size + 1);
	if (!*data)
		return -ENOMEM;
	if (proc_read_mem(p->pid, addr + (uint64_t)p->off.bytes_data, *data, (size_t)size)) {
		free(*data);
		*data = NULL;
		return -EFAULT;
	}
	*len = (size_t)size;
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

/* A code object's names and line table, cached by address and identity
 * (lb_code_id, captured with the stack). A code object freed and another
 * made at its address is a different entry, so names are never lent from
 * one to the other; one already gone when first named is NULL, and
 * counted. Code objects never change, so an entry is never read again. */
static struct code_info *code_info(struct sym_process *p, uint64_t addr, uint32_t id)
{
	const struct lb_py_offsets *o = &p->off;
	uint64_t key = code_key(addr, id);
	struct code_info *c = u64map_get(&p->codes, key);
	uint8_t buf[CODE_READ_SIZE];
	__u64 idf[3];
	int32_t first = 0;

	bool gone;

	if (c && c->addr == addr && c->id == id)
		return c;
	if (p->gone)
		return NULL;
	if (proc_read_mem(p->pid, addr, buf, sizeof(buf))) {
		pr_debug("process %d: code object at 0x%" PRIx64 " unreadable", p->pid, addr);
		return NULL;
	}
	if (o->code_filename < 0 || o->code_filename + LB_CODE_ID_BYTES > CODE_READ_SIZE)
		return NULL;
	/* a code object freed before we got to it (a module body, exec'd
	 * source) may hold anything now: only the same live code object.
	 * Remembered either way: other stacks share the frame. */
	memcpy(idf, buf + o->code_filename, sizeof(idf));
	gone = (p->code_type && field_ptr(buf, OB_TYPE_OFFSET) != p->code_type) ||
	       (id && lb_code_id(idf) != id);
	if (gone)
		pr_debug("process %d: the code object at 0x%" PRIx64 " was freed or replaced",
			 p->pid, addr);
	c = calloc(1, sizeof(*c));
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
	c->gone = gone;
	if (gone)
		return c;
	c->filename_ptr = field_ptr(buf, o->code_filename);
	c->name_ptr = field_ptr(buf, o->code_qualname != LB_NO_OFFSET ? o->code_qualname :
						o->code_name);
	c->linetable_ptr = field_ptr(buf, o->code_linetable);
	memcpy(&first, buf + o->code_firstlineno, sizeof(first));
	c->firstlineno = first;
	if (o->code_firsttraceable != LB_NO_OFFSET &&
	    o->code_firsttraceable + 4 <= CODE_READ_SIZE)
		memcpy(&c->firsttraceable, buf + o->code_firsttraceable, sizeof(int32_t));
	c->file = read_unicode(p, c->filename_ptr);
	c->function = read_unicode(p, c->name_ptr);
	if (read_bytes_object(p, c->linetable_ptr, &c->linetable, &c->linetable_len))
		c->linetable_len = 0;
	return c;
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
			if (py_linetable_line(p->minor, c->linetable, c->linetable_len,
					      c->firstlineno, f->instr_offset, &line) || line < 0)
				line = 0;
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

static struct elf_image *elf_for(struct symbolizer *s, pid_t pid, const char *path)
{
	char host[PATH_MAX];
	const char *key;
	struct elf_image *img;

	if (proc_root_path(pid, path, host, sizeof(host)))
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
	char buf[40];

	out->line = 0;
	if (m && m->path) {
		out->file = strtab_intern(m->path);
		img = elf_for(s, p->pid, m->path);
	} else {
		out->file = strtab_intern(m ? "[anon]" : "[unknown]");
	}
	/* a return address points after the call: look the call itself up */
	if (img && !elf_image_offset_to_vaddr(img, ip - m->start + m->offset, &vaddr) &&
	    !elf_image_symbolize(img, vaddr - (return_address ? 1 : 0), &name, &off)) {
		out->function = strtab_intern(name);
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

uint64_t symbolizer_code_gone(const struct symbolizer *s, pid_t pid)
{
	uint64_t n = pid ? 0 : s->code_gone;
	size_t i;

	for (i = 0; i < s->procs.cap; i++) {
		const struct sym_process *p = s->procs.slots[i].value;

		if (s->procs.slots[i].key && p && (!pid || p->pid == pid))
			n += p->code_gone;
	}
	return n;
}
