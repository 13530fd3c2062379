//! Valgrind client requests for callgrind, so one process can count the instructions of
//! each workload run separately (`make bench-instructions`). Outside valgrind the special
//! instruction sequence is a no-op (it rotates a register by 128 bits in total).
//!
//! The sequence and request numbers are valgrind.h's and callgrind.h's (amd64).

/// callgrind.h: VG_USERREQ_TOOL_BASE('C','T') and the requests that follow it.
const CT_BASE: usize = ((b'C' as usize) << 24) | ((b'T' as usize) << 16);
const ZERO_STATS: usize = CT_BASE + 1;
const DUMP_STATS_AT: usize = CT_BASE + 3;
/// valgrind.h: VG_USERREQ__RUNNING_ON_VALGRIND.
const RUNNING_ON_VALGRIND: usize = 0x1001;

#[cfg(target_arch = "x86_64")]
#[inline(never)]
fn client_request(default: usize, request: usize, arg1: usize) -> usize {
    let args: [usize; 6] = [request, arg1, 0, 0, 0, 0];
    let result: usize;
    // SAFETY: valgrind's "special instruction" preamble; natively the rotations cancel out
    // and `xchg rbx, rbx` changes nothing, so rdx keeps `default`.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") default => result,
            in("rax") args.as_ptr(),
            inout("rdi") 0usize => _,
            options(nostack),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(default: usize, _request: usize, _arg1: usize) -> usize {
    default
}

/// How many valgrind layers this runs under (0 natively).
pub fn running_on_valgrind() -> usize {
    client_request(0, RUNNING_ON_VALGRIND, 0)
}

/// Resets callgrind's event counters.
pub fn zero_stats() {
    client_request(0, ZERO_STATS, 0);
}

/// Writes callgrind's counters since the last zero/dump to a profile file named by `label`.
pub fn dump_stats_at(label: &std::ffi::CStr) {
    client_request(0, DUMP_STATS_AT, label.as_ptr() as usize);
}
