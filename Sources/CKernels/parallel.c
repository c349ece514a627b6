// The process's compute threads: a fixed pool that runs `count` independent tasks and returns when all are done.
// Workers spin briefly between tasks (a training step hands out a parallel region every few microseconds), then
// sleep on a condition variable, so an idle process costs no CPU. A task that itself asks for parallel work runs it
// inline (no nesting), and callers from several threads take turns.
#include "CKernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define MAX_WORKERS 256
#define SPIN_NANOSECONDS 200000L

static pthread_mutex_t caller_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_wake = PTHREAD_COND_INITIALIZER;

static _Atomic int requested_threads = 1;
static int started_workers = 0;  // guarded by caller_lock
static _Atomic unsigned long generation = 0;
static _Atomic int sleepers = 0;
static _Atomic long next_index = 0;
static _Atomic int unfinished_workers = 0;

static ck_parallel_task job_task;
static void *job_context;
static long job_count;
static int job_workers;
static unsigned long job_caller;  // the thread that handed out the current job  // workers (besides the caller) that take part in the current job

static _Thread_local int inside_task = 0;
static _Thread_local int current_worker = 0;

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run_tasks(int worker) {
    inside_task = 1;
    for (;;) {
        long index = atomic_fetch_add_explicit(&next_index, 1, memory_order_relaxed);
        if (index >= job_count) break;
        job_task(job_context, index, worker);
    }
    inside_task = 0;
}

// The generation each worker was started in: a worker created while earlier jobs ran must wait for the next one.
static unsigned long start_generation[MAX_WORKERS + 1];

static void *worker_main(void *argument) {
    int worker = (int)(long)argument;
    current_worker = worker;
    unsigned long seen = start_generation[worker];
    for (;;) {
        unsigned long current = atomic_load(&generation);
        if (current == seen) {
            long start = now_nanoseconds();
            int spins = 0;
            while ((current = atomic_load(&generation)) == seen) {
                relax();
                if (++spins % 256 == 0 && now_nanoseconds() - start > SPIN_NANOSECONDS) {
                    pthread_mutex_lock(&sleep_lock);
                    atomic_fetch_add(&sleepers, 1);
                    while ((current = atomic_load(&generation)) == seen) pthread_cond_wait(&sleep_wake, &sleep_lock);
                    atomic_fetch_sub(&sleepers, 1);
                    pthread_mutex_unlock(&sleep_lock);
                    break;
                }
            }
        }
        seen = current;
        if (worker <= job_workers) run_tasks(worker);
        atomic_fetch_sub_explicit(&unfinished_workers, 1, memory_order_release);
    }
    return NULL;
}

void ck_parallel_set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_WORKERS + 1) threads = MAX_WORKERS + 1;
    atomic_store(&requested_threads, threads);
}

int ck_parallel_threads(void) { return atomic_load(&requested_threads); }

int ck_parallel_inside_task(void) { return inside_task; }

int ck_parallel_worker(void) { return current_worker; }

unsigned long ck_parallel_caller(void) { return job_caller; }

void ck_parallel_for(long count, ck_parallel_task task, void *context) {
    int threads = atomic_load(&requested_threads);
    if (count <= 0) return;
    if (inside_task || threads <= 1 || count == 1) {
        int saved = inside_task;
        inside_task = 1;
        for (long index = 0; index < count; index++) task(context, index, 0);
        inside_task = saved;
        return;
    }
    pthread_mutex_lock(&caller_lock);
    while (started_workers < threads - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        // Workers run whole forward and backward passes of model replicas: the main thread's stack size, not the
        // platform's smaller default for threads (512 KiB on macOS).
        pthread_attr_setstacksize(&attributes, 16UL << 20);
        start_generation[started_workers + 1] = atomic_load(&generation);
        if (pthread_create(&thread, &attributes, worker_main, (void *)(long)(started_workers + 1)) != 0) {
            pthread_attr_destroy(&attributes);
            break;
        }
        pthread_attr_destroy(&attributes);
        started_workers++;
    }
    job_caller = (unsigned long)(uintptr_t)pthread_self();
    job_task = task;
    job_context = context;
    job_count = count;
    job_workers = threads - 1 < count - 1 ? threads - 1 : (int)(count - 1);
    atomic_store(&next_index, 0);
    atomic_store(&unfinished_workers, started_workers);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&sleep_wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_tasks(0);
    while (atomic_load_explicit(&unfinished_workers, memory_order_acquire) > 0) relax();
    pthread_mutex_unlock(&caller_lock);
}

// OpenBLAS's own thread pool, when the library was built with one (weak: absent from other BLAS libraries). Every
// product runs on one OpenBLAS thread inside our compute threads, so its pool only costs: its idle workers spin
// on sched_yield beside ours and take cores from them.
extern int blas_thread_shutdown_(void) __attribute__((weak));

void ck_stop_blas_pool(void) {
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
