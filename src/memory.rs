//! Large buffers: vectors of many megabytes that are filled once, front to back,
//! such as the columns of a table of millions of codings.
//!
//! On Linux such a buffer's memory is marked for transparent huge pages where the
//! host allows them on request (`madvise` mode, the common default), so that the
//! kernel maps it 2 MiB at a time instead of taking one page fault, and one
//! memory-cgroup charge, per 4 KiB page. Elsewhere, or when the host has huge
//! pages off, it is a plain `Vec::with_capacity`. The hint changes how memory is
//! mapped, never what a buffer holds. This module allocates and advises; it keeps
//! no memory of its own and knows nothing of tables or stores.
//!
//! **No advice in a virtual machine that hands free memory back to its host.**
//! With free page reporting (a virtio balloon with the `REPORTING` feature),
//! the kernel tells the hypervisor about free blocks of 2 MiB, which the host
//! then takes back. A huge page needs one whole free block, so it is nearly
//! always one the host took back, and writing it makes the host provide every
//! page of it again: on such a host a table of three million hits took a
//! second longer to build with the advice than without, and a read of the
//! codings two to three times as long when the calls were seconds apart. Small
//! pages mostly come from blocks the guest still holds. `INNSIKT_HUGE_PAGES=0`
//! or `=1` overrides what the module finds.

/// Buffers below this size are left to the allocator as they are: a huge page
/// is 2 MiB, and the hint only pays for itself over many of them.
const MIN_ADVISED_BYTES: usize = 8 << 20;

/// An empty vector with room for `n` values; when that room is large, its
/// memory is advised for huge pages (see the module's documentation).
pub fn large_vec<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    if bytes >= MIN_ADVISED_BYTES && huge_pages_pay() {
        advise_huge_pages(v.as_ptr() as usize, bytes);
    }
    v
}

/// Whether large buffers are advised for huge pages in this process: decided
/// once, from `INNSIKT_HUGE_PAGES` or else from whether the kernel reports free
/// memory to a hypervisor (see the module's documentation).
pub fn huge_pages_pay() -> bool {
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| {
        huge_pages_decision(
            std::env::var("INNSIKT_HUGE_PAGES").ok().as_deref(),
            reports_free_pages,
        )
    })
}

/// The decision of [`huge_pages_pay`]: the variable's `0` or `1` when set to
/// one of them, else advice unless `reporting()` finds free page reporting.
fn huge_pages_decision(var: Option<&str>, reporting: impl FnOnce() -> bool) -> bool {
    match var.map(str::trim) {
        Some("0") => false,
        Some("1") => true,
        _ => !reporting(),
    }
}

/// Whether a virtio balloon bound to its driver offers free page reporting.
#[cfg(target_os = "linux")]
fn reports_free_pages() -> bool {
    let Ok(devices) = std::fs::read_dir("/sys/bus/virtio/drivers/virtio_balloon") else {
        return false;
    };
    devices.flatten().any(|d| {
        std::fs::read_to_string(d.path().join("features")).is_ok_and(|f| offers_reporting(&f))
    })
}

#[cfg(not(target_os = "linux"))]
fn reports_free_pages() -> bool {
    false
}

/// Whether a virtio device's `features` (one `0` or `1` per feature bit, bit 0
/// first) has `VIRTIO_BALLOON_F_REPORTING`, bit 5.
fn offers_reporting(features: &str) -> bool {
    const REPORTING: usize = 5;
    features.trim().as_bytes().get(REPORTING) == Some(&b'1')
}

/// Advises the whole 2 MiB-aligned pages inside `start..start + len`.
#[cfg(target_os = "linux")]
fn advise_huge_pages(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    let from = start.next_multiple_of(HUGE);
    let to = (start + len) / HUGE * HUGE;
    if to > from {
        // SAFETY: `from..to` lies inside an allocation this process owns (a
        // vector's spare capacity, or zeroed memory not yet written);
        // MADV_HUGEPAGE only asks how its pages are backed and changes
        // neither the mapping's contents nor its protection. A failure (a kernel
        // without the mode) leaves the memory as it was and is ignored.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_vector_holds_what_is_written_to_it_small_or_large() {
        for n in [0usize, 1, 1000, 3 << 20] {
            let mut v: Vec<u64> = large_vec(n);
            assert!(v.capacity() >= n);
            assert!(v.is_empty());
            v.extend((0..n as u64).map(|i| i * 7));
            assert_eq!(v.len(), n);
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 7));
        }
    }

    #[test]
    fn free_page_reporting_is_read_from_the_balloon_s_feature_bits() {
        // A balloon of a host with reporting (bits 1, 2, 5 and 7 as read on one)
        // and without, and what is not a feature string at all.
        assert!(offers_reporting("01100101000000000000000000000000100000\n"));
        assert!(!offers_reporting(
            "01100001000000000000000000000000100000\n"
        ));
        assert!(!offers_reporting("0110"));
        assert!(!offers_reporting(""));
    }

    #[test]
    fn huge_pages_are_advised_unless_free_pages_are_reported_or_the_variable_says() {
        let never = || -> bool { panic!("the variable decides without looking") };
        assert!(!huge_pages_decision(Some("0"), never));
        assert!(huge_pages_decision(Some(" 1 "), never));
        for var in [None, Some(""), Some("yes")] {
            assert!(huge_pages_decision(var, || false), "{var:?}");
            assert!(!huge_pages_decision(var, || true), "{var:?}");
        }
    }

    /// The mapping that holds a large vector carries the kernel's huge-page
    /// flag (`hg` in `/proc/self/smaps`) wherever the kernel has the mode and
    /// this process advises, and does not where it does not advise.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_large_vector_is_advised_for_huge_pages_where_the_kernel_has_them_and_they_pay() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            return;
        }
        let v: Vec<u8> = large_vec(64 << 20);
        let at = v.as_ptr() as usize + (32 << 20);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = (a..b).contains(&at);
                        continue;
                    }
                }
            }
            if inside {
                if let Some(f) = line.strip_prefix("VmFlags:") {
                    flags = Some(f.split_whitespace().map(str::to_string).collect::<Vec<_>>());
                }
            }
        }
        let flags = flags.expect("the vector's mapping is in smaps");
        assert_eq!(
            flags.iter().any(|f| f == "hg"),
            huge_pages_pay(),
            "{flags:?}"
        );
        drop(v);
    }
}
