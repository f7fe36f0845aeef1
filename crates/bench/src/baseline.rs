//! libdpkg's `dpkg_version_compare` and librpm's `rpmverCmp` over versions parsed once, as the C
//! tools hold them.

use std::ffi::{CString, c_char, c_int, c_void};

unsafe extern "C" {
    fn pw_dpkg_parse(text: *const c_char) -> *mut c_void;
    fn pw_dpkg_compare(a: *const c_void, b: *const c_void) -> c_int;
    fn pw_rpm_parse(text: *const c_char) -> *mut c_void;
    fn pw_rpm_compare(a: *mut c_void, b: *mut c_void) -> c_int;
}

/// Which C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    Dpkg,
    Rpm,
}

/// Versions parsed by a C library. They are never freed: a benchmark parses a fixed set once.
#[derive(Debug)]
pub struct Parsed {
    library: Library,
    handles: Vec<*mut c_void>,
}

impl Parsed {
    /// Parses every version; `None` if the library refuses one.
    pub fn new(library: Library, versions: &[String]) -> Option<Parsed> {
        let mut handles = Vec::with_capacity(versions.len());
        for v in versions {
            let text = CString::new(v.as_str()).ok()?;
            // SAFETY: `text` is a valid NUL-terminated string that outlives the call; the libraries
            // copy what they keep.
            let handle = unsafe {
                match library {
                    Library::Dpkg => pw_dpkg_parse(text.as_ptr()),
                    Library::Rpm => pw_rpm_parse(text.as_ptr()),
                }
            };
            if handle.is_null() {
                return None;
            }
            handles.push(handle);
        }
        Some(Parsed { library, handles })
    }

    /// The sign of comparing versions `i` and `j`.
    pub fn compare(&self, i: usize, j: usize) -> i32 {
        let (a, b) = (self.handles[i], self.handles[j]);
        // SAFETY: both handles came from the matching parse function and were never freed.
        let c = unsafe {
            match self.library {
                Library::Dpkg => pw_dpkg_compare(a, b),
                Library::Rpm => pw_rpm_compare(a, b),
            }
        };
        c.signum()
    }
}
