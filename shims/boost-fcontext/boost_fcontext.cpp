// A switchyard backend library (include/switchyard.h) over Boost.Context's fcontext:
// `make_fcontext` / `jump_fcontext`, the assembly switch under Boost.Context, Boost.Coroutine2
// and Boost.Fiber, from the system's libboost_context (Debian: libboost-context-dev).
//
// fcontext is "jump and tell": `jump_fcontext(to, data)` suspends the caller, resumes `to`,
// and the resumed side receives a transfer_t {fctx, data} whose fctx is the suspended caller
// (the only handle to resume it by). switchyard's switch(from, to, dying) names both sides, so
// every switch hands over a `Handoff {from, to}` as data, and whoever is resumed first stores
// the fctx it received into `from`'s record. A new context receives the same handoff in its
// start function and finds its own entry and argument through `to`.
//
// Stacks are mmap'd per context with a PROT_NONE guard page below, never moved, unmapped by
// switchyard_free.
#include "switchyard.h"

#include <boost/context/detail/fcontext.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/mman.h>
#include <unistd.h>

namespace fc = boost::context::detail;

struct switchyard_context {
    // Where to resume this context: set when it suspends (by the context resumed next), the
    // fresh frame of make_fcontext for a new one, null while it runs.
    fc::fcontext_t fctx;
    // The mapping (guard page included); null for a thread's main context.
    void *mapping;
    size_t mapped;
    switchyard_entry entry;
    void *arg;
};

namespace {

// What a switch hands to the context it resumes, on the switching context's stack (alive
// until that context is resumed, or freed: a dying one is freed only after the resumed side
// has read this).
struct Handoff {
    // The suspending context, which receives its fctx; null when it is dying.
    switchyard_context *from;
    // The resumed context (a new one reads its entry here).
    switchyard_context *to;
};

// The first code of a new context, on its stack.
[[noreturn]] void start(fc::transfer_t t) {
    Handoff *h = static_cast<Handoff *>(t.data);
    if (h->from != nullptr) {
        h->from->fctx = t.fctx;
    }
    switchyard_context *self = h->to;
    self->entry(self->arg);
    // The entry never returns (include/switchyard.h).
    std::fputs("boost-fcontext shim: a context's entry function returned\n", stderr);
    std::abort();
}

void set_error(char *error, size_t error_len, const char *what, size_t size, int err) {
    std::snprintf(error, error_len, "boost-fcontext shim: cannot %s a stack of %zu bytes: %s",
                  what, size, std::strerror(err));
}

}  // namespace

extern "C" {

uint32_t switchyard_abi_version(void) { return SWITCHYARD_ABI_VERSION; }

// jump_fcontext of Debian's Boost 1.74 (x86_64 SysV ELF, jump_x86_64_sysv_elf_gas.S, built
// without BOOST_USE_TSX) saves the MXCSR with stmxcsr and the x87 control word with fnstcw
// into the suspended frame and loads the resumed frame's with ldmxcsr / fldcw, so both are
// kept (objdump -d libboost_context.so.1.74.0; the register probe checks it).
uint32_t switchyard_guarantees(void) {
    return SWITCHYARD_KEEPS_MXCSR | SWITCHYARD_KEEPS_X87_CW;
}

switchyard_context *switchyard_main_context(void) {
    return new (std::nothrow) switchyard_context{nullptr, nullptr, 0, nullptr, nullptr};
}

switchyard_context *switchyard_new_context(switchyard_entry entry, void *arg, size_t stack_size,
                                           char *error, size_t error_len) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (stack_size > SIZE_MAX / 2) {
        set_error(error, error_len, "map", stack_size, EOVERFLOW);
        return nullptr;
    }
    size_t usable = (stack_size + page - 1) / page * page;
    if (usable == 0) {
        usable = page;
    }
    const size_t mapped = usable + page;
    void *mapping = mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) {
        set_error(error, error_len, "map", stack_size, errno);
        return nullptr;
    }
    if (mprotect(mapping, page, PROT_NONE) != 0) {
        const int err = errno;
        munmap(mapping, mapped);
        set_error(error, error_len, "guard", stack_size, err);
        return nullptr;
    }
    switchyard_context *ctx =
        new (std::nothrow) switchyard_context{nullptr, mapping, mapped, entry, arg};
    if (ctx == nullptr) {
        munmap(mapping, mapped);
        set_error(error, error_len, "allocate the record of", stack_size, ENOMEM);
        return nullptr;
    }
    // make_fcontext takes the top of the stack and its size.
    ctx->fctx = fc::make_fcontext(static_cast<char *>(mapping) + mapped, usable, start);
    return ctx;
}

#ifdef SWITCHYARD_SHIM_LOSE_R12
// BROKEN ON PURPOSE (`make broken`, for switchyard's tests only): the exported switch is an
// assembly wrapper that comes back with r12 holding `to` instead of the caller's r12, a
// callee-saved register lost across the switch; the register probe must report it.
#define SWITCH_NAME shim_switch
__attribute__((visibility("hidden"))) void shim_switch(switchyard_context *, switchyard_context *,
                                                       bool);
asm(".text\n"
    ".globl switchyard_switch\n"
    ".type switchyard_switch, @function\n"
    "switchyard_switch:\n"
    "  push %rsi\n"
    "  call shim_switch\n"
    "  pop %r12\n"
    "  ret\n"
    ".size switchyard_switch, . - switchyard_switch\n");
#else
#define SWITCH_NAME switchyard_switch
#endif

void SWITCH_NAME(switchyard_context *from, switchyard_context *to, bool from_dying) {
    fc::fcontext_t target = to->fctx;
    if (target == nullptr) {
        std::fputs("boost-fcontext shim: switch to a context that is running\n", stderr);
        std::abort();
    }
    to->fctx = nullptr;
    Handoff handoff{from_dying ? nullptr : from, to};
    fc::transfer_t back = fc::jump_fcontext(target, &handoff);
    // Resumed: `back` comes from whoever switched to us; record where it can be resumed.
    Handoff *theirs = static_cast<Handoff *>(back.data);
    if (theirs->from != nullptr) {
        theirs->from->fctx = back.fctx;
    }
}

void switchyard_free(switchyard_context *ctx) {
    if (ctx->mapping != nullptr) {
        munmap(ctx->mapping, ctx->mapped);
    }
    delete ctx;
}

}  // extern "C"
