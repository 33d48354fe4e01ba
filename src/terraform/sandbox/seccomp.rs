//! The seccomp filter every sandboxed command runs under: a classic-BPF program, built here,
//! that bwrap installs (`--seccomp FD`) just before it starts the command.
//!
//! It refuses, with `EPERM`, what a Terraform run never needs and an escape or a look into
//! other processes would: new namespaces (`unshare`, `setns`, `clone` with a namespace flag),
//! mounts (`mount`, `umount2`, `pivot_root` and the new mount API), `ptrace` and
//! `process_vm_readv`/`writev`, `bpf`, `perf_event_open`, `userfaultfd`, the kernel keyring
//! (`keyctl`, `add_key`, `request_key`) and kernel modules and `kexec`. `clone3` answers
//! `ENOSYS`: its flags sit in memory a filter cannot read, and C libraries then fall back to
//! `clone`, whose flags it can. Everything else is allowed; Go programs (Terraform, providers)
//! start threads with `clone` and thread flags only.
//!
//! The program accepts only this build's own architecture: a syscall made through another ABI
//! (32-bit `int 0x80` on x86-64) kills the process, and so do x32 syscall numbers.

/// `struct sock_filter`: one instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// The low 32 bits of the first argument (little-endian).
const ARG0_LO: u32 = 16;

/// `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
/// CLONE_NEWPID | CLONE_NEWNET` (`CLONE_NEWTIME` shares its bit with `clone`'s exit signal and
/// only `clone3` and `unshare` take it).
const CLONE_NEW_ANY: u32 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// The syscall numbers the filter names, for one architecture.
struct Arch {
    audit: u32,
    /// Numbers at or above this are refused whatever they are (x32 on x86-64).
    foreign_from: Option<u32>,
    clone: u32,
    clone3: u32,
    denied: &'static [u32],
}

/// x86-64: unshare, setns, mount, umount2, pivot_root, open_tree, move_mount, fsopen,
/// fsconfig, fsmount, fspick, mount_setattr, ptrace, process_vm_readv, process_vm_writev,
/// bpf, perf_event_open, userfaultfd, keyctl, add_key, request_key, init_module,
/// finit_module, delete_module, kexec_load, kexec_file_load.
#[cfg(target_arch = "x86_64")]
const NATIVE: Arch = Arch {
    audit: 0xc000_003e,
    foreign_from: Some(0x4000_0000),
    clone: 56,
    clone3: 435,
    denied: &[
        272, 308, 165, 166, 155, 428, 429, 430, 431, 432, 433, 442, 101, 310, 311, 321, 298, 323,
        250, 248, 249, 175, 313, 176, 246, 320,
    ],
};

/// aarch64, the same list in the same order.
#[cfg(target_arch = "aarch64")]
const NATIVE: Arch = Arch {
    audit: 0xc000_00b7,
    foreign_from: None,
    clone: 220,
    clone3: 435,
    denied: &[
        97, 268, 40, 39, 41, 428, 429, 430, 431, 432, 433, 442, 117, 270, 271, 280, 241, 282, 219,
        217, 218, 105, 273, 106, 104, 294,
    ],
};

/// The filter for this build's architecture, as bwrap reads it (an array of
/// `struct sock_filter` in native byte order); `None` on an architecture it does not know.
pub fn program() -> Option<Vec<u8>> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        Some(encode(&build(&NATIVE)))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        None
    }
}

fn stmt(code: u16, k: u32) -> Insn {
    Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
    Insn { code, jt, jf, k }
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
fn build(arch: &Arch) -> Vec<Insn> {
    let eperm = RET_ERRNO | EPERM;
    let mut p = vec![
        stmt(LD_W_ABS, ARCH),
        jump(JEQ_K, arch.audit, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, NR),
    ];
    if let Some(from) = arch.foreign_from {
        p.push(jump(JGE_K, from, 0, 1));
        p.push(stmt(RET_K, RET_KILL_PROCESS));
    }
    for &nr in arch.denied {
        p.push(jump(JEQ_K, nr, 0, 1));
        p.push(stmt(RET_K, eperm));
    }
    p.push(jump(JEQ_K, arch.clone3, 0, 1));
    p.push(stmt(RET_K, RET_ERRNO | ENOSYS));
    // clone: refused when its flags ask for a namespace.
    p.push(jump(JEQ_K, arch.clone, 0, 3));
    p.push(stmt(LD_W_ABS, ARG0_LO));
    p.push(jump(JSET_K, CLONE_NEW_ANY, 0, 1));
    p.push(stmt(RET_K, eperm));
    p.push(stmt(RET_K, RET_ALLOW));
    p
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
fn encode(program: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for i in program {
        out.extend(i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend(i.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the program as the kernel would on `(arch, nr, arg0)`.
    fn verdict(p: &[Insn], arch: u32, nr: u32, arg0: u32) -> u32 {
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    a = match i.k {
                        NR => nr,
                        ARCH => arch,
                        ARG0_LO => arg0,
                        other => panic!("load of offset {other}"),
                    }
                }
                RET_K => return i.k,
                JEQ_K | JGE_K | JSET_K => {
                    let taken = match i.code {
                        JEQ_K => a == i.k,
                        JGE_K => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
                other => panic!("unknown instruction {other:#x}"),
            }
        }
    }

    const X86: Arch = Arch {
        audit: 0xc000_003e,
        foreign_from: Some(0x4000_0000),
        clone: 56,
        clone3: 435,
        denied: &[272, 101, 250],
    };

    #[test]
    fn refuses_what_it_names_and_allows_the_rest() {
        let p = build(&X86);
        let arch = X86.audit;
        let eperm = RET_ERRNO | EPERM;
        assert_eq!(verdict(&p, arch, 272, 0), eperm, "unshare");
        assert_eq!(verdict(&p, arch, 101, 0), eperm, "ptrace");
        assert_eq!(verdict(&p, arch, 250, 0), eperm, "keyctl");
        assert_eq!(verdict(&p, arch, 0, 0), RET_ALLOW, "read");
        assert_eq!(verdict(&p, arch, 435, 0), RET_ERRNO | ENOSYS, "clone3");
        // Go's threads: CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_SYSVSEM|CLONE_THREAD.
        assert_eq!(verdict(&p, arch, 56, 0x0005_0f00), RET_ALLOW, "thread");
        assert_eq!(verdict(&p, arch, 56, 0x11), RET_ALLOW, "fork");
        assert_eq!(verdict(&p, arch, 56, 0x1000_0011), eperm, "CLONE_NEWUSER");
        assert_eq!(verdict(&p, arch, 56, 0x4000_0011), eperm, "CLONE_NEWNET");
        assert_eq!(verdict(&p, arch, 0x4000_0000, 0), RET_KILL_PROCESS, "x32");
        assert_eq!(verdict(&p, 0x4000_0003, 0, 0), RET_KILL_PROCESS, "i386");
    }

    #[test]
    fn the_native_program_is_whole_instructions() {
        let Some(bytes) = program() else { return };
        assert_eq!(bytes.len() % 8, 0);
        assert!(bytes.len() / 8 < 256, "jumps stay short");
    }
}
