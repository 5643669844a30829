//! Valgrind client requests, issued without a C dependency: telling memcheck which pool memory
//! is free (no access), freshly handed out (undefined) or the allocator's own (defined), so a
//! use after free inside a pool is reported like one of the system allocator.
//!
//! # How a client request works
//!
//! A program asks valgrind for something by running a "magic" instruction sequence that does
//! nothing on a real CPU: four rotations of one register whose amounts add up to 128 (two
//! whole turns, so the register is unchanged), followed by a no-op that names the request
//! register (`xchg rbx, rbx` on x86_64, `orr x10, x10, x10` on aarch64). Valgrind's JIT
//! recognises the sequence and, instead of running it, reads a pointer to six words (the
//! request code and five arguments) from one register and writes the answer into another,
//! which the program preloads with a default. Natively the default comes back unchanged. The
//! sequence and codes are valgrind's documented, stable ABI (`valgrind.h`, `memcheck.h`).
//!
//! | arch    | rotated | args pointer | default in, result out | marker             |
//! |---------|---------|--------------|------------------------|--------------------|
//! | x86_64  | `rdi`   | `rax`        | `rdx`                  | `xchg rbx, rbx`    |
//! | aarch64 | `x12`   | `x4`         | `x3`                   | `orr x10, x10, x10`|
//!
//! On other architectures every request returns its default: the marking is skipped and
//! [`running_on_valgrind`] is `false`.
//!
//! # Cost
//!
//! Natively a request is six stores and five register instructions; the `asm!` block may read
//! and write memory (it must: memcheck's view of a block has to change exactly between the
//! allocator's accesses, so the compiler may not move a load or store of the block across it).
//! The marking in the allocation and free fast paths is compiled only with the `valgrind`
//! feature (see the crate docs, "Valgrind"); [`running_on_valgrind`] is always available.

/// Request codes (`valgrind.h`: core requests; `memcheck.h`: tool requests, based at
/// `'M' << 24 | 'C' << 16`).
mod code {
    /// Answers 1 under valgrind (the nesting depth), 0 natively.
    pub(super) const RUNNING_ON_VALGRIND: usize = 0x1001;
    /// Memcheck's tool base.
    const MEMCHECK: usize = ((b'M' as usize) << 24) | ((b'C' as usize) << 16);
    /// Marks `[addr, addr + len)` unaddressable.
    pub(super) const MAKE_MEM_NOACCESS: usize = MEMCHECK;
    /// Marks `[addr, addr + len)` addressable, contents undefined.
    pub(super) const MAKE_MEM_UNDEFINED: usize = MEMCHECK + 1;
    /// Marks `[addr, addr + len)` addressable and defined.
    pub(super) const MAKE_MEM_DEFINED: usize = MEMCHECK + 2;
}

/// Issues client request `code` with arguments `a1` and `a2` (the other three are zero) and
/// returns valgrind's answer, or `default` when not running under valgrind.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn request(default: usize, code: usize, a1: usize, a2: usize) -> usize {
    let args: [usize; 6] = [code, a1, a2, 0, 0, 0];
    let mut result = default;
    // SAFETY: natively the sequence only rotates `rdi` by 128 bits in all (leaving it as it
    // was) and exchanges `rbx` with itself; it clobbers the flags (not preserved, the default)
    // and touches no stack. Under valgrind it reads the six words at `rax` (`args`, alive for
    // the whole block) and writes only `rdx`. The default memory clobber keeps the compiler
    // from moving the allocator's accesses to the block across the request.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") result,
            options(nostack),
        );
    }
    result
}

/// See the x86_64 version.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn request(default: usize, code: usize, a1: usize, a2: usize) -> usize {
    let args: [usize; 6] = [code, a1, a2, 0, 0, 0];
    let mut result = default;
    // SAFETY: natively the sequence only rotates `x12` by 128 bits in all (leaving it as it
    // was) and ORs `x10` with itself; it touches no stack. Under valgrind it reads the six
    // words at `x4` (`args`, alive for the whole block) and writes only `x3`. The default
    // memory clobber keeps the compiler from moving the allocator's accesses to the block
    // across the request.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #51",
            "ror x12, x12, #61",
            "orr x10, x10, x10",
            in("x4") args.as_ptr(),
            inout("x3") result,
            options(nostack),
        );
    }
    result
}

/// No client requests on this architecture: every request answers its default.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn request(default: usize, _code: usize, _a1: usize, _a2: usize) -> usize {
    default
}

/// Whether the program runs under valgrind (any tool). Useful for a test to shrink itself:
/// code runs some 20 to 50 times slower under memcheck.
///
/// It asks valgrind with a client request (a few no-op instructions natively), so it is cheap
/// but not free; call it once, not in a loop. Always `false` on architectures other than x86_64
/// and aarch64.
///
/// # Examples
///
/// ```
/// let rounds = if ms_alloc::running_on_valgrind() { 1_000 } else { 100_000 };
/// assert!(rounds > 0);
/// ```
#[must_use]
pub fn running_on_valgrind() -> bool {
    request(0, code::RUNNING_ON_VALGRIND, 0, 0) != 0
}

/// Tells memcheck that `[ptr, ptr + len)` may not be accessed: a free block.
#[inline(always)]
pub(crate) fn make_mem_noaccess(ptr: *const u8, len: usize) {
    if cfg!(feature = "valgrind") {
        request(0, code::MAKE_MEM_NOACCESS, ptr.addr(), len);
    }
}

/// Tells memcheck that `[ptr, ptr + len)` may be accessed but holds nothing yet: a block just
/// handed out, or a chunk about to go back to the system allocator.
#[inline(always)]
pub(crate) fn make_mem_undefined(ptr: *const u8, len: usize) {
    if cfg!(feature = "valgrind") {
        request(0, code::MAKE_MEM_UNDEFINED, ptr.addr(), len);
    }
}

/// Tells memcheck that `[ptr, ptr + len)` may be accessed and holds a value: the free-list
/// link inside a free block, just before the allocator reads it.
#[inline(always)]
pub(crate) fn make_mem_defined(ptr: *const u8, len: usize) {
    if cfg!(feature = "valgrind") {
        request(0, code::MAKE_MEM_DEFINED, ptr.addr(), len);
    }
}
