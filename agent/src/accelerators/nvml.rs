//! NVIDIA GPUs through NVML, the driver's management library, loaded at run time: the agent
//! runs on machines without the driver, where the library is absent and there are no NVIDIA GPUs.

use super::{gpu, Accelerator, Vendor};
use libloading::{Library, Symbol};
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

/// What finds GPUs: NVML on a machine, a fake in tests.
pub trait Probe {
    /// Each GPU on its own (count 1), or why none could be listed.
    fn gpus(&self) -> Result<Vec<Accelerator>, String>;
}

/// The driver installs it under this name (the unversioned one comes with development files).
const LIBRARY: &str = "libnvidia-ml.so.1";
/// NVML_DEVICE_NAME_V2_BUFFER_SIZE: the longest name, its NUL included.
const NAME_BUFFER: usize = 96;
const NVML_SUCCESS: c_int = 0;

type Device = *mut c_void;

/// nvmlMemory_t, in bytes. Only the total is read; the others are there for the layout.
#[repr(C)]
#[derive(Default)]
struct Memory {
    total: u64,
    _free: u64,
    _used: u64,
}

pub struct Nvml;

impl Probe for Nvml {
    fn gpus(&self) -> Result<Vec<Accelerator>, String> {
        // SAFETY: loading runs the library's initialisers; NVML's are the driver's own.
        let library = unsafe { Library::new(LIBRARY) }
            .map_err(|error| format!("NVML not loaded: {error}"))?;
        let nvml = Session::start(&library)?;
        nvml.gpus()
    }
}

/// NVML between nvmlInit_v2 and nvmlShutdown, which dropping it calls.
struct Session<'lib> {
    library: &'lib Library,
}

impl<'lib> Session<'lib> {
    fn start(library: &'lib Library) -> Result<Session<'lib>, String> {
        // SAFETY: the signatures are NVML's (nvml.h); each symbol is used while `library` lives.
        unsafe {
            let init: Symbol<unsafe extern "C" fn() -> c_int> = symbol(library, b"nvmlInit_v2\0")?;
            check("nvmlInit_v2", init())?;
        }
        Ok(Session { library })
    }

    fn gpus(&self) -> Result<Vec<Accelerator>, String> {
        // SAFETY: as in `start`; every out-pointer points at a live local of the declared type,
        // and the name buffer's length is passed with it.
        unsafe {
            let get_count: Symbol<unsafe extern "C" fn(*mut c_uint) -> c_int> =
                symbol(self.library, b"nvmlDeviceGetCount_v2\0")?;
            let get_handle: Symbol<unsafe extern "C" fn(c_uint, *mut Device) -> c_int> =
                symbol(self.library, b"nvmlDeviceGetHandleByIndex_v2\0")?;
            let get_name: Symbol<unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int> =
                symbol(self.library, b"nvmlDeviceGetName\0")?;
            let get_memory: Symbol<unsafe extern "C" fn(Device, *mut Memory) -> c_int> =
                symbol(self.library, b"nvmlDeviceGetMemoryInfo\0")?;

            let mut count: c_uint = 0;
            check("nvmlDeviceGetCount_v2", get_count(&mut count))?;
            let mut gpus = Vec::new();
            for index in 0..count {
                let mut device: Device = std::ptr::null_mut();
                check(
                    "nvmlDeviceGetHandleByIndex_v2",
                    get_handle(index, &mut device),
                )?;
                let mut name = [0 as c_char; NAME_BUFFER];
                check(
                    "nvmlDeviceGetName",
                    get_name(device, name.as_mut_ptr(), NAME_BUFFER as c_uint),
                )?;
                // NVML writes a NUL-terminated name; the last byte is NUL even if it did not.
                name[NAME_BUFFER - 1] = 0;
                let name = CStr::from_ptr(name.as_ptr()).to_string_lossy();
                let mut memory = Memory::default();
                check("nvmlDeviceGetMemoryInfo", get_memory(device, &mut memory))?;
                let fallback = || format!("NVIDIA GPU {index}");
                gpus.push(gpu(Vendor::Nvidia, &name, fallback, memory.total));
            }
            Ok(gpus)
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: nvmlInit_v2 succeeded; shutting down after it is NVML's protocol.
        unsafe {
            if let Ok(shutdown) =
                symbol::<unsafe extern "C" fn() -> c_int>(self.library, b"nvmlShutdown\0")
            {
                shutdown();
            }
        }
    }
}

/// # Safety
/// `T` must be the symbol's real type.
unsafe fn symbol<'lib, T>(library: &'lib Library, name: &[u8]) -> Result<Symbol<'lib, T>, String> {
    library.get(name).map_err(|error| {
        let name = String::from_utf8_lossy(&name[..name.len() - 1]);
        format!("NVML has no {name}: {error}")
    })
}

fn check(function: &str, status: c_int) -> Result<(), String> {
    if status == NVML_SUCCESS {
        Ok(())
    } else {
        Err(format!("NVML {function} returned error {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_library_is_an_error_to_log_not_a_panic() {
        // No NVIDIA driver on the machines the tests run on; where there is one, NVML answers.
        match Nvml.gpus() {
            Ok(gpus) => assert!(gpus.iter().all(|gpu| gpu.vendor == Vendor::Nvidia)),
            Err(error) => assert!(error.contains("NVML") || error.contains(LIBRARY), "{error}"),
        }
    }

    #[test]
    fn statuses_name_the_function() {
        assert_eq!(check("nvmlInit_v2", 0), Ok(()));
        assert_eq!(
            check("nvmlInit_v2", 9),
            Err("NVML nvmlInit_v2 returned error 9".to_string())
        );
    }
}
