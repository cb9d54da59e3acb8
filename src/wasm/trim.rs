//! Gives back the resident pages of code that the Wasm init will not run again.
//!
//! The init of a Wasm container is a clone of the runw process that set the container up (no
//! exec), so its page tables map every page of code that parsing the command line, reading the
//! bundle, building the namespaces and mounts, and loading and instantiating the module
//! touched, plus the neighbours the kernel's fault-around mapped with them: about 6 MiB of
//! runw's binary and 1 MiB of libc, most of a sleeping init's resident set. Once the module is
//! instantiated, right before its entry point runs, each engine backend calls
//! [`drop_code_pages`], which drops those mappings (`MADV_DONTNEED`) for every read-only
//! segment of every loaded ELF object. They are clean page-cache pages: nothing is lost, and
//! the few pages the running module needs (the engine's runtime, the WASI calls) come back as
//! minor faults. The dropped pages stay in the page cache, unmapped, so the kernel can reclaim
//! them under memory pressure.
//!
//! Writable segments are never touched: they hold relocated data, which `MADV_DONTNEED` would
//! reset to the file's unrelocated bytes.

use std::ffi::CStr;

/// Drops the resident mappings of all non-writable `PT_LOAD` segments of the loaded objects.
pub fn drop_code_pages() {
    // SAFETY: the callback only reads the program headers the loader hands it.
    unsafe { libc::dl_iterate_phdr(Some(drop_object_code_pages), std::ptr::null_mut()) };
}

unsafe extern "C" fn drop_object_code_pages(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: the loader passes a valid `dl_phdr_info` for the duration of the call.
    let info = unsafe { &*info };
    if is_vdso(info) || info.dlpi_phdr.is_null() {
        return 0;
    }
    // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    let page = page_size();
    for header in headers {
        if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = info.dlpi_addr as usize + header.p_vaddr as usize;
        let (start, len) = page_range(start, header.p_memsz as usize, page);
        if len == 0 {
            continue;
        }
        // SAFETY: the range is a read-only, file-backed segment of a loaded object: dropping
        // its page-table entries only makes the next access fault the same bytes back in.
        unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
    }
    0
}

/// The vDSO is not backed by a file: leave it alone.
fn is_vdso(info: &libc::dl_phdr_info) -> bool {
    if info.dlpi_name.is_null() {
        return false;
    }
    // SAFETY: `dlpi_name` is a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dlpi_name) };
    name.to_bytes().starts_with(b"linux-vdso")
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// The whole pages inside `len` bytes from `start`. A partial page at either end is left out:
/// it could be shared with a neighbouring writable segment.
fn page_range(start: usize, len: usize, page: usize) -> (usize, usize) {
    let first = start.div_ceil(page) * page;
    let end = (start + len) & !(page - 1);
    (first, end.saturating_sub(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_to_whole_pages() {
        assert_eq!(page_range(0x1000, 0x1000, 0x1000), (0x1000, 0x1000));
        assert_eq!(page_range(0x1234, 0x10, 0x1000).1, 0);
        assert_eq!(page_range(0x1ff0, 0x2020, 0x1000), (0x2000, 0x2000));
    }

    #[test]
    fn code_still_runs_after_its_pages_are_dropped() {
        drop_code_pages();
        // Formatting runs code from runw's text and libc's; both fault back in.
        assert_eq!(format!("{:>4}", 42), "  42");
    }
}
