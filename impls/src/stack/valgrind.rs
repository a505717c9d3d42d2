//! Valgrind client requests for stack (de)registration, issued with Valgrind's "magic"
//! instruction sequence; a no-op (returns the default) when not running under Valgrind.

/// `VG_USERREQ__RUNNING_ON_VALGRIND`.
const RUNNING_ON_VALGRIND: usize = 0x1001;
/// `VG_USERREQ__STACK_REGISTER`.
#[allow(dead_code)]
const STACK_REGISTER: usize = 0x1501;
/// `VG_USERREQ__STACK_DEREGISTER`.
#[allow(dead_code)]
const STACK_DEREGISTER: usize = 0x1502;

/// Issues client request `request` with up to five arguments; returns `default` when not
/// under Valgrind.
#[cfg(target_arch = "x86_64")]
fn client_request(default: usize, request: usize, args: [usize; 5]) -> usize {
    let block: [usize; 6] = [request, args[0], args[1], args[2], args[3], args[4]];
    let mut result = default;
    // SAFETY: the rotations of rdi add up to 128 bits (rdi is unchanged) and `xchg rbx, rbx`
    // changes nothing; natively this is a no-op. Under Valgrind the sequence makes it read the
    // six words at rax (a live local array) and write its answer into rdx.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") block.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack, preserves_flags),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(default: usize, _request: usize, _args: [usize; 5]) -> usize {
    default
}

/// Tells Valgrind that `start..end` is a stack; returns its id (0 natively).
pub(crate) fn stack_register(start: *mut u8, end: *mut u8) -> usize {
    client_request(0, STACK_REGISTER, [start as usize, end as usize, 0, 0, 0])
}

/// Tells Valgrind that stack `id` is gone.
pub(crate) fn stack_deregister(id: usize) {
    client_request(0, STACK_DEREGISTER, [id, 0, 0, 0, 0]);
}

/// Whether this process runs under Valgrind (the register probe varies fewer control-word
/// fields there: Valgrind models only the rounding fields).
pub(crate) fn running_on_valgrind() -> bool {
    client_request(0, RUNNING_ON_VALGRIND, [0; 5]) != 0
}
