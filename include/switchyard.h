/*
 * switchyard.h: the C interface of a stack-switching library that switchyard can load and
 * test (`switchyard fuzz --backend-lib PATH.so`, and `run`, `minimize`, `stats`, `bench`).
 *
 * A shared library that exports the six functions below is a switchyard backend: switchyard
 * runs every greenlet program on it through its generic greenlet runtime (parents, throw,
 * GreenletExit, kill on drop all live there), under the register probe (callee-saved
 * registers and floating-point control words are checked at every switch), and compares the
 * trace with its oracle. The library only switches stacks. This is exactly the contract of
 * the Rust trait `StackSwitch` (impls/src/switch.rs); the example implementation is
 * shims/boost-fcontext/ (Boost.Context's fcontext).
 *
 * Threads: switchyard calls these functions from several OS threads at once. A context is
 * only ever used on the thread that created it (its main context too), and never switched
 * from one thread's context to another's, so a library needs no locking for that, but must
 * not keep unsynchronized global state.
 *
 * Everything is plain C (C99 and C++ compatible). Functions must not throw C++ exceptions
 * or longjmp out.
 */
#ifndef SWITCHYARD_H
#define SWITCHYARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface. switchyard refuses a library whose
 * switchyard_abi_version() returns anything else. */
#define SWITCHYARD_ABI_VERSION 1u

/* Bits of switchyard_guarantees(): the parts of the callee-saved state, beyond rbx, rbp,
 * r12-r15 and rsp (which every backend must keep), that the library's switch keeps. */
/* The MXCSR control bits (rounding, flush-to-zero, denormals-are-zero, exception masks). */
#define SWITCHYARD_KEEPS_MXCSR 1u
/* The x87 control word (precision, rounding, exception masks). */
#define SWITCHYARD_KEEPS_X87_CW 2u

/* One context: a greenlet's switching state (its stack and whatever resuming it needs). Its
 * layout is the library's own; switchyard only holds pointers to it. */
typedef struct switchyard_context switchyard_context;

/* The first function a new context runs, on its own stack, with the `arg` given to
 * switchyard_new_context. It never returns: it ends by switching away with from_dying true.
 * Nothing unwinds out of it. */
typedef void (*switchyard_entry)(void *arg);

/* Returns SWITCHYARD_ABI_VERSION as the library was built. */
uint32_t switchyard_abi_version(void);

/* Returns the SWITCHYARD_KEEPS_* bits of what switchyard_switch keeps. The x86-64 System V
 * ABI makes both callee-saved; declare only what the library promises: the probe then checks
 * exactly that (a bit declared but not kept is a `register-corruption` finding), and
 * `switchyard backends -v` shows what is left out. */
uint32_t switchyard_guarantees(void);

/* A context standing for the code running now on the calling thread (the thread's main
 * greenlet). It is first used as the `from` of a switch, which fills it in. NULL only when
 * out of memory (switchyard then aborts with a message). */
switchyard_context *switchyard_main_context(void);

/* A new context that, when it is first switched to, runs entry(arg) on a fresh stack of at
 * least `stack_size` usable bytes. The stack must stay where it is for the context's whole
 * life (switchyard lets other code hold pointers into a suspended greenlet's stack; a
 * stack-copying library does not fit this interface). Recommended: an mmap'd stack with a
 * guard page below it, so an overflow is a SIGSEGV rather than silent corruption.
 *
 * On failure returns NULL and writes a NUL-terminated message (at most error_len bytes,
 * error_len >= 1) into `error`: switchyard reports it as the failure of the spawn. */
switchyard_context *switchyard_new_context(switchyard_entry entry, void *arg,
                                           size_t stack_size, char *error,
                                           size_t error_len);

/* Suspends `from` and resumes `to`; returns when something switches back to `from`.
 *
 * - `from` is the context running now on this thread; `to` is a different context of the
 *   same thread, either new (never switched to: it then starts entry(arg)) or suspended in
 *   switchyard_switch.
 * - When `from` is resumed, rbx, rbp, r12-r15 and rsp hold what they held when it called,
 *   and so do the control words declared in switchyard_guarantees(); the memory of its stack
 *   reads back as it left it. switchyard's register probe calls this function directly from
 *   assembly with its own values in those registers, so whatever the function saves and
 *   restores itself counts as kept.
 * - With from_dying true, `from` is never switched to again and nothing on its stack is used
 *   again; the call does not return. switchyard frees `from` (switchyard_free) later, from
 *   another context, only after this call has switched away.
 */
void switchyard_switch(switchyard_context *from, switchyard_context *to, bool from_dying);

/* Frees a context and its stack. Called only for a context that is not suspended in a
 * switch: one never switched to, one that switched away with from_dying, or the thread's
 * main context (after its last switch, while the main code runs on: free only the record,
 * not the thread's stack). */
void switchyard_free(switchyard_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* SWITCHYARD_H */
