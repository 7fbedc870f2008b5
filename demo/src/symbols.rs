//! Names for sampled addresses from symbol tables only: the executable's own
//! ELF symbol table (read from `/proc/self/exe`, mapped for the lookup and
//! unmapped after) and, for shared libraries, `dladdr`. Debug information is
//! never loaded, so naming a profile costs a few MB for a moment whatever the
//! binary's line tables; the price is that a function inlined into another
//! counts as the one it was inlined into, and there are no file names or lines.

use std::collections::HashMap;
use std::ffi::CStr;

use object::{Object, ObjectSymbol, SymbolKind};

#[derive(Debug, thiserror::Error)]
pub enum SymbolsError {
    #[error("cannot read the executable /proc/self/exe: {0}")]
    Exe(std::io::Error),
    #[error("cannot parse the executable's ELF symbol table: {0}")]
    Elf(object::Error),
}

/// The name of each address in `ips`; addresses no table covers get none.
pub fn names(ips: &[usize]) -> Result<HashMap<usize, String>, SymbolsError> {
    let bias = executable_bias();
    let exe = Mapped::open("/proc/self/exe").map_err(SymbolsError::Exe)?;
    let file = object::File::parse(exe.bytes()).map_err(SymbolsError::Elf)?;
    // Functions of the executable by start address.
    let mut functions: Vec<(usize, usize, &str)> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some((s.address() as usize, s.size() as usize, s.name().ok()?)))
        .collect();
    functions.sort_unstable_by_key(|f| f.0);
    let mut names = HashMap::with_capacity(ips.len());
    for &ip in ips {
        // A return address points after the call: look up the call itself.
        let at = ip.saturating_sub(1);
        let own = at.checked_sub(bias).and_then(|addr| {
            let i = functions.partition_point(|f| f.0 <= addr).checked_sub(1)?;
            let (start, size, name) = functions[i];
            (addr < start + size).then(|| demangle(name))
        });
        if let Some(name) = own.or_else(|| shared_library_name(at)) {
            names.insert(ip, name);
        }
    }
    Ok(names)
}

fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// Where the executable is loaded (0 unless it is position-independent).
fn executable_bias() -> usize {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _: libc::size_t,
        out: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes valid entries; the main program comes first.
        unsafe { *(out as *mut usize) = (*info).dlpi_addr as usize };
        1
    }
    let mut bias = 0usize;
    // SAFETY: the callback writes one usize through the pointer it is given.
    unsafe { libc::dl_iterate_phdr(Some(first), &mut bias as *mut usize as *mut libc::c_void) };
    bias
}

/// `name` or `library+0xoffset`, from the dynamic symbols of a shared library.
fn shared_library_name(addr: usize) -> Option<String> {
    // SAFETY: dladdr only fills the struct; its strings belong to the loader.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(addr as *const libc::c_void, &mut info) } == 0 {
        return None;
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: non-null dladdr strings are NUL-terminated and live as long as the library.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    if let Some(symbol) = text(info.dli_sname) {
        return Some(demangle(&symbol));
    }
    let library = text(info.dli_fname)?;
    let short = library.rsplit('/').next().unwrap_or(&library).to_string();
    Some(format!("{short}+0x{:x}", addr - info.dli_fbase as usize))
}

/// A file mapped read-only for as long as this lives.
struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    fn open(path: &str) -> std::io::Result<Mapped> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len == 0 {
            return Err(std::io::Error::other("the file is empty"));
        }
        use std::os::fd::AsRawFd;
        // SAFETY: a private read-only mapping of a file we opened; unmapped on drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes until drop.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmapping what `open` mapped.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}
