/* backend_graph.cu — HIVE_EXT_GRAPH v1: record the ops of one step once (CUDA
 * graphs; HIP graphs through gpu_port.h) and replay them with no per-op launch
 * overhead and no per-token allocation.
 *
 * Capture. capture_begin puts dev->stream in capture mode and sets
 * dev->capture; the ops then run as usual but their kernels are recorded, not
 * executed. Everything an op decides on the host must not depend on the
 * contents of the host arrays the host may rewrite between replays:
 *   - gpu_stage() places host arrays in this graph's own device arena instead
 *     of the pinned ring (ring slots are reused by later ops, and waiting for a
 *     slot is an event synchronize, illegal while capturing). Parts marked
 *     reread (embed ids, get_rows rows, a batch's row_seq / row_pos /
 *     block_table) get a slot that replay refills from the same host address;
 *     the others are copied once, at capture_end.
 *   - attention builds its work items from indices only and sizes split-K for
 *     max_blocks * block_size positions (backend_attn_ops.cu).
 *   - the host-array checks (ids in range, valid blocks) are recorded and run
 *     again before every replay, so a bad rewrite is an error, not a fault.
 *   - scratch may not grow (gpu_scratch_ensure throws HIVE_E_UNSUPPORTED: run
 *     the step once eagerly first); synchronize, upload, download, argmax and
 *     every allocation are refused (backend_api.cu); frees are deferred to the
 *     end of the capture (they would synchronize the capturing stream).
 *   - an op that fails during capture poisons it: capture_end then fails, as
 *     the graph would miss (part of) that op.
 *
 * Capture mode: gpuStreamCaptureModeRelaxed. (1) The ABI does not promise that
 * capture_begin and capture_end come from the same host thread; the other
 * modes require it. (2) An arena that outgrows its first chunk gets another
 * one from gpuMalloc during the capture; the CUDA documentation names
 * cudaMalloc as the typical "potentially unsafe" call that the global and
 * thread-local modes reject. It is safe here because the memory belongs to the
 * graph for its whole life (replays reuse it; it is freed by graph_free only).
 * Calls that really conflict with capture (synchronizing or querying the
 * capturing stream) stay illegal in relaxed mode, and the backend makes none.
 * The first arena chunks are allocated before the capture starts, sized so a
 * normal decode step needs no more (the reread chunk as large as the eager
 * staging region), and the pinned host mirror is allocated at capture_end, so
 * a typical capture allocates nothing at all.
 *
 * Replay: run the recorded checks on the host arrays; wait until the previous
 * replay of this graph has finished uploading from the pinned mirror (event);
 * copy every reread array into the mirror; upload the mirror into the arena
 * (one async copy per chunk, stream-ordered after earlier work, so it cannot
 * overwrite what a previous replay is still reading); record the event; launch
 * the graph on dev->stream. The host may rewrite its arrays as soon as replay
 * returns. The upload is a plain stream copy in front of the graph rather than
 * memcpy nodes inside it, so the graph holds only kernels (plus what the vendor
 * GEMM records) and the pinned memory need not exist during capture.
 *
 * Scratch (dev->conv, deq, attn, lora_t) is shared by every graph and eager
 * op: all run in order on dev->stream. Graphs bake its addresses, so once a
 * graph exists, growing scratch retires the old allocation instead of freeing
 * it (backend_core.cu); retired memory is freed when the last graph goes. */
#include <stdint.h>
#include <string.h>
#include <utility>
#include <vector>

#include "gpu_backend.h"
#include "gpu_impl.h"

#define GRAPH_MAGIC 0x48475246u       /* "HGRF": catches stale or foreign handles */
#define ARENA_ALIGN ((size_t)16)      /* every staged part starts 16-byte aligned */
#define ARENA_MIN_CHUNK ((size_t)64 << 10)

/* One device allocation of an arena. */
struct arena_chunk {
    void *dev = nullptr;         /* read by the captured kernels */
    size_t cap = 0, used = 0;
    uint8_t *pinned = nullptr;   /* reread arena: host mirror of [0, used), made at capture_end */
    std::vector<uint8_t> shadow; /* fixed arena: contents until capture_end uploads them */
};
struct arena {
    std::vector<arena_chunk> chunks;
};

/* Host array copied into (chunk, off) before every replay. */
struct reread_part {
    const void *src;
    size_t bytes, chunk, off;
};
/* Contents copied once (attention items, rope inv_freq, ...). */
struct fixed_part {
    size_t bytes, chunk, off;
};
struct deferred_free {
    void (*fn)(hive_device *, void *);
    void *obj;
};

struct hive_graph {
    uint32_t magic = 0;
    hive_device *dev = nullptr;
    hive_graph *prev = nullptr, *next = nullptr; /* dev->graphs, once instantiated */
    gpuGraph_t graph = nullptr;
    gpuGraphExec_t exec = nullptr;
    gpuEvent_t copied = nullptr; /* after each replay's upload: the mirror may be rewritten */
    arena reread, fixed;
    std::vector<reread_part> rparts;
    std::vector<fixed_part> fparts;
    std::vector<gpu_host_check> checks;
    std::vector<deferred_free> deferred; /* frees requested during capture */
    bool failed = false;                 /* an op failed during capture */
    hive_status fail_code = HIVE_OK;
    char fail_msg[sizeof(((gpu_exc *)0)->msg)] = {};
};

static size_t align_up(size_t x) { return (x + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1); }

/* ------------------------------------------------------------------ arenas -- */
static void arena_add_chunk(arena &a, size_t cap) {
    a.chunks.emplace_back(); /* may throw bad_alloc: nothing allocated yet */
    arena_chunk &c = a.chunks.back();
    const gpuError_t e = gpuMalloc(&c.dev, cap);
    if (e != gpuSuccess) {
        a.chunks.pop_back();
        gpu_throw_rt(e, "graph arena");
    }
    c.cap = cap;
}

/* Room for `bytes` at the end of the arena: (chunk, offset). A full chunk is
 * followed by one twice as large (gpuMalloc during capture: see the header). */
static void arena_reserve(arena &a, size_t bytes, size_t *chunk, size_t *off) {
    if (!a.chunks.empty()) {
        arena_chunk &c = a.chunks.back();
        const size_t o = align_up(c.used);
        if (o <= c.cap && bytes <= c.cap - o) {
            c.used = o + bytes;
            *chunk = a.chunks.size() - 1;
            *off = o;
            return;
        }
    }
    size_t cap = a.chunks.empty() ? ARENA_MIN_CHUNK : a.chunks.back().cap * 2;
    if (cap < bytes) cap = align_up(bytes);
    arena_add_chunk(a, cap);
    a.chunks.back().used = bytes;
    *chunk = a.chunks.size() - 1;
    *off = 0;
}

static void arena_free(arena &a) {
    for (arena_chunk &c : a.chunks) {
        if (c.dev) (void)gpuFree(c.dev);
        if (c.pinned) (void)gpuFreeHost(c.pinned);
    }
    a.chunks.clear();
}

/* ------------------------------------------------------------ graph list -- */
static void graph_link(hive_device *d, hive_graph *g) {
    g->prev = nullptr;
    g->next = d->graphs;
    if (d->graphs) d->graphs->prev = g;
    d->graphs = g;
}

static void graph_unlink(hive_device *d, hive_graph *g) {
    if (g->prev)
        g->prev->next = g->next;
    else
        d->graphs = g->next;
    if (g->next) g->next->prev = g->prev;
    g->prev = g->next = nullptr;
}

/* Frees everything of g. The device must not be capturing; g is unlinked. */
static void graph_release(hive_graph *g) {
    hive_device *d = g->dev;
    /* a replay or the capture_end upload may still be queued */
    (void)gpuStreamSynchronize(d->stream);
    if (g->exec) (void)gpuGraphExecDestroy(g->exec);
    if (g->graph) (void)gpuGraphDestroy(g->graph);
    if (g->copied) (void)gpuEventDestroy(g->copied);
    arena_free(g->reread);
    arena_free(g->fixed);
    (void)gpuGetLastError(); /* nothing above may leave a sticky error behind */
    g->magic = 0;
    delete g;
}

/* Frees requested during the capture, now that the stream may synchronize. */
static void run_deferred(hive_device *d, hive_graph *g) {
    std::vector<deferred_free> todo;
    todo.swap(g->deferred);
    for (const deferred_free &f : todo) {
        try {
            f.fn(d, f.obj);
        } catch (...) {
            gpu_log(HIVE_LOG_WARN, "a free deferred by graph capture failed");
        }
    }
}

/* ------------------------------------------------- hooks used by the ops -- */
void gpu_graph_stage(hive_device *dev, const gpu_stage_part *parts, int n, void **dptr) {
    hive_graph *g = dev->capture;
    if (!g) gpu_throw(HIVE_E_INTERNAL, "graph stage without capture");
    for (int i = 0; i < n; i++) {
        const gpu_stage_part &p = parts[i];
        if (!p.bytes) { /* any valid address will do; nothing is read */
            dptr[i] = g->reread.chunks[0].dev;
            continue;
        }
        size_t chunk = 0, off = 0;
        bool found = false;
        if (p.reread) {
            /* the same host array with the same size shares one slot: every
             * layer passes the same row_pos / block_table, and replay copies
             * each array once */
            for (const reread_part &r : g->rparts)
                if (r.src == p.src && r.bytes == p.bytes) {
                    chunk = r.chunk;
                    off = r.off;
                    found = true;
                    break;
                }
            if (!found) {
                arena_reserve(g->reread, p.bytes, &chunk, &off);
                g->rparts.push_back(reread_part{p.src, p.bytes, chunk, off});
            }
            dptr[i] = (uint8_t *)g->reread.chunks[chunk].dev + off;
        } else {
            /* fixed parts with identical contents share one slot (the
             * attention items and inv_freq of every layer) */
            for (const fixed_part &f : g->fparts)
                if (f.bytes == p.bytes && memcmp(g->fixed.chunks[f.chunk].shadow.data() + f.off, p.src, p.bytes) == 0) {
                    chunk = f.chunk;
                    off = f.off;
                    found = true;
                    break;
                }
            if (!found) {
                arena_reserve(g->fixed, p.bytes, &chunk, &off);
                std::vector<uint8_t> &sh = g->fixed.chunks[chunk].shadow;
                if (sh.size() < off + p.bytes) sh.resize(off + p.bytes);
                memcpy(sh.data() + off, p.src, p.bytes);
                g->fparts.push_back(fixed_part{p.bytes, chunk, off});
            }
            dptr[i] = (uint8_t *)g->fixed.chunks[chunk].dev + off;
        }
    }
}

static bool same_check(const gpu_host_check &a, const gpu_host_check &b) {
    return a.kind == b.kind && a.n == b.n && a.ids == b.ids && a.limit == b.limit && a.row_seq == b.row_seq &&
           a.row_pos == b.row_pos && a.block_table == b.block_table && a.n_seqs == b.n_seqs &&
           a.max_blocks == b.max_blocks && a.block_size == b.block_size && a.n_blocks == b.n_blocks;
}

void gpu_graph_add_check(hive_device *dev, const gpu_host_check *c) {
    hive_graph *g = dev->capture;
    if (!g) return;
    for (const gpu_host_check &x : g->checks)
        if (same_check(x, *c)) return; /* kv_store and attention of every layer: one check */
    g->checks.push_back(*c);
}

void gpu_graph_note_failure(hive_device *dev, hive_status code, const char *msg) {
    hive_graph *g = dev->capture;
    if (!g || g->failed) return; /* keep the first failure */
    g->failed = true;
    g->fail_code = code;
    snprintf(g->fail_msg, sizeof g->fail_msg, "%s", msg ? msg : "?");
}

void gpu_graph_defer(hive_device *dev, void (*fn)(hive_device *, void *), void *obj) {
    if (!dev->capture) {
        fn(dev, obj);
        return;
    }
    dev->capture->deferred.push_back(deferred_free{fn, obj});
}

/* ------------------------------------------------------------ operations -- */
static void check_graph(const hive_device *d, const hive_graph *g, const char *what) {
    if (!g || g->magic != GRAPH_MAGIC) gpu_throw(HIVE_E_INVALID, "%s: not a live graph", what);
    if (g->dev != d) gpu_throw(HIVE_E_INVALID, "%s: the graph belongs to another device", what);
}

static void impl_capture_begin(hive_device *d) {
    if (d->capture) gpu_throw(HIVE_E_INVALID, "capture_begin: the device is already capturing");
    GPU_CHECK(gpuSetDevice(d->index));
    hive_graph *g = new hive_graph();
    g->magic = GRAPH_MAGIC;
    g->dev = d;
    try {
        /* first chunks before the capture starts: the reread one as large as
         * the eager staging region, which held the largest op's arrays */
        arena_add_chunk(g->reread, d->stage_cap > ARENA_MIN_CHUNK ? align_up(d->stage_cap) : ARENA_MIN_CHUNK);
        arena_add_chunk(g->fixed, ARENA_MIN_CHUNK);
        GPU_CHECK(gpuEventCreateWithFlags(&g->copied, gpuEventDisableTiming));
        GPU_CHECK(gpuStreamBeginCapture(d->stream, gpuStreamCaptureModeRelaxed));
    } catch (...) {
        graph_release(g);
        throw;
    }
    d->capture = g;
}

/* Ends the capture whatever happens; returns the instantiated graph or throws
 * with the device back to running ops eagerly and nothing of the graph left. */
static hive_graph *impl_capture_end(hive_device *d) {
    hive_graph *g = d->capture;
    if (!g) gpu_throw(HIVE_E_INVALID, "capture_end: no capture in progress (call capture_begin first)");
    (void)gpuSetDevice(d->index);
    gpuGraph_t graph = nullptr;
    const gpuError_t e = gpuStreamEndCapture(d->stream, &graph);
    d->capture = nullptr; /* from here on ops run eagerly again */
    g->graph = graph;
    run_deferred(d, g);
    try {
        if (e != gpuSuccess) gpu_throw_rt(e, "capture_end: gpuStreamEndCapture");
        if (g->failed)
            gpu_throw(g->fail_code, "capture_end: an op failed during capture, so no graph was made: %s", g->fail_msg);
        if (!graph) gpu_throw(HIVE_E_DEVICE, "capture_end: the runtime returned no graph");
        GPU_CHECK(gpuGraphInstantiate(&g->exec, graph));
        /* reread arena: pinned mirror of what each replay uploads */
        for (arena_chunk &c : g->reread.chunks)
            if (c.used) GPU_CHECK(gpuHostAlloc((void **)&c.pinned, c.used));
        /* fixed arena: uploaded once, ordered before any replay on this stream;
         * the shadow is pageable host memory, so wait before dropping it */
        bool uploaded = false;
        for (arena_chunk &c : g->fixed.chunks)
            if (c.used && !c.shadow.empty()) {
                GPU_CHECK(gpuMemcpyAsync(c.dev, c.shadow.data(), c.shadow.size(), gpuMemcpyHostToDevice, d->stream));
                uploaded = true;
            }
        if (uploaded) GPU_CHECK(gpuStreamSynchronize(d->stream));
        for (arena_chunk &c : g->fixed.chunks) std::vector<uint8_t>().swap(c.shadow);
    } catch (...) {
        graph_release(g);
        throw;
    }
    graph_link(d, g);
    gpu_log(HIVE_LOG_DEBUG, "graph captured: %zu re-read arrays, %zu fixed parts, %zu checks", g->rparts.size(),
            g->fparts.size(), g->checks.size());
    return g;
}

static void impl_replay(hive_device *d, hive_graph *g) {
    check_graph(d, g, "replay");
    if (d->capture) gpu_throw(HIVE_E_INVALID, "replay: not allowed during graph capture");
    GPU_CHECK(gpuSetDevice(d->index));
    /* 1. the rewritten host arrays must still be valid (as the ops check them) */
    for (const gpu_host_check &c : g->checks) gpu_host_check_run(&c);
    /* 2. the previous replay's upload has finished reading the mirror */
    GPU_CHECK(gpuEventSynchronize(g->copied));
    /* 3. host arrays -> mirror -> arena; the upload is queued after everything
     *    already on the stream, so it cannot overwrite data that a previous
     *    replay of this graph is still reading */
    for (const reread_part &r : g->rparts) memcpy(g->reread.chunks[r.chunk].pinned + r.off, r.src, r.bytes);
    for (const arena_chunk &c : g->reread.chunks)
        if (c.used) GPU_CHECK(gpuMemcpyAsync(c.dev, c.pinned, c.used, gpuMemcpyHostToDevice, d->stream));
    GPU_CHECK(gpuEventRecord(g->copied, d->stream));
    /* 4. the recorded step */
    GPU_CHECK(gpuGraphLaunch(g->exec, d->stream));
}

static void graph_free_cb(hive_device *d, void *g);

static void impl_graph_free(hive_device *d, hive_graph *g) {
    if (!g) return;
    if (g->magic != GRAPH_MAGIC || g->dev != d) {
        gpu_log(HIVE_LOG_WARN, "graph_free: not a live graph of this device; ignored");
        return;
    }
    if (d->capture) { /* freeing synchronizes the stream: after the capture */
        gpu_graph_defer(d, graph_free_cb, g);
        return;
    }
    (void)gpuSetDevice(d->index);
    graph_unlink(d, g);
    graph_release(g);
    if (!d->graphs) gpu_retired_release(d);
}

static void graph_free_cb(hive_device *d, void *g) { impl_graph_free(d, (hive_graph *)g); }

void gpu_graph_close_all(hive_device *d) {
    if (d->capture) {
        hive_graph *g = d->capture;
        gpuGraph_t graph = nullptr;
        (void)gpuStreamEndCapture(d->stream, &graph);
        (void)gpuGetLastError();
        d->capture = nullptr;
        g->graph = graph;
        run_deferred(d, g);
        graph_release(g);
        gpu_log(HIVE_LOG_WARN, "device_close: a graph capture was in progress; it was dropped");
    }
    if (d->graphs) gpu_log(HIVE_LOG_WARN, "device_close: freeing graphs the host did not free");
    while (d->graphs) {
        hive_graph *g = d->graphs;
        graph_unlink(d, g);
        graph_release(g);
    }
}

/* ------------------------------------------------------------- ABI table -- */
extern "C" {

static hive_status ext_capture_begin(hive_device *d, hive_error **err) {
    return gpu_guard(err, [&] {
        if (!d) gpu_throw(HIVE_E_INVALID, "capture_begin: null device");
        impl_capture_begin(d);
    });
}

static hive_status ext_capture_end(hive_device *d, hive_graph **out, hive_error **err) {
    if (out) *out = nullptr;
    return gpu_guard(err, [&] {
        if (!d) gpu_throw(HIVE_E_INVALID, "capture_end: null device");
        hive_graph *g = impl_capture_end(d);
        if (!out) { /* the capture has ended either way */
            impl_graph_free(d, g);
            gpu_throw(HIVE_E_INVALID, "capture_end: null out (the graph was dropped)");
        }
        *out = g;
    });
}

static hive_status ext_replay(hive_device *d, hive_graph *g, hive_error **err) {
    return gpu_guard(err, [&] {
        if (!d) gpu_throw(HIVE_E_INVALID, "replay: null device");
        impl_replay(d, g);
    });
}

static void ext_graph_free(hive_device *d, hive_graph *g) {
    gpu_guard_void([&] {
        if (d) impl_graph_free(d, g);
    });
}

} /* extern "C" */

static const hive_ext_graph k_graph_ext = {
    sizeof(hive_ext_graph), 1, ext_capture_begin, ext_capture_end, ext_replay, ext_graph_free,
};

const hive_ext_graph *gpu_ext_graph(void) { return &k_graph_ext; }
