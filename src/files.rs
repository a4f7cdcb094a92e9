//! The one way nnsched reads and writes files. Reads are opened once and
//! capped, so a link to `/dev/zero` or a huge file is refused by name
//! instead of filling memory. Writes replace a regular file atomically
//! through a temporary created exclusively under a random name beside it
//! (a planted link of that name is never followed), write devices and
//! FIFOs directly (`-o /dev/null` stays the system's), and refuse
//! directories and symbolic links: nothing but a regular file is ever
//! replaced, and a failure leaves the old file as it was and no temporary
//! behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// The largest file of each kind nnsched reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// An ONNX model: protobuf messages cannot exceed 2 GiB.
    Model,
    /// A hardware description.
    Hardware,
    /// A sweep spec.
    Spec,
    /// A schedule document (the largest the shipped models make are a few
    /// MB).
    Schedule,
    /// A sweep's results table.
    Table,
}

impl Limit {
    /// The limit in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Limit::Model => 2 << 30,
            Limit::Hardware | Limit::Spec => 1 << 20,
            Limit::Schedule => 64 << 20,
            Limit::Table => 256 << 20,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Limit::Model => "an ONNX model",
            Limit::Hardware => "a hardware file",
            Limit::Spec => "a sweep spec",
            Limit::Schedule => "a schedule file",
            Limit::Table => "a results table",
        }
    }
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn refused(path: &Path, why: String) -> Error {
    io_error(path, io::Error::other(why))
}

/// Size in binary units, for limit messages.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b => format!("{b} bytes"),
    }
}

/// Reads a whole file of at most `limit` bytes. The file is opened once:
/// a regular file over the limit is refused from its size, anything else
/// (a device, a FIFO) is read until the limit and refused past it.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, Error> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if meta.is_dir() {
        return Err(refused(path, "is a directory".into()));
    }
    let max = limit.bytes();
    let over = || {
        refused(
            path,
            format!("larger than the {} limit for {}", size(max), limit.what()),
        )
    };
    if meta.is_file() && meta.len() > max {
        return Err(over());
    }
    let mut bytes = Vec::with_capacity(if meta.is_file() {
        meta.len() as usize
    } else {
        0
    });
    (&file)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > max {
        return Err(over());
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, Error> {
    String::from_utf8(read(path, limit)?).map_err(|_| refused(path, "not UTF-8 text".into()))
}

/// What a write's target is.
enum Target {
    /// No such file yet.
    New,
    /// A regular file, replaced atomically (keeping its permissions).
    Regular(std::fs::Permissions),
    /// A device, FIFO or socket, possibly behind a link: written in place.
    Device,
}

fn target(path: &Path) -> Result<Target, Error> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(io_error(path, e)),
        Ok(m) => m,
    };
    let t = meta.file_type();
    if t.is_file() {
        Ok(Target::Regular(meta.permissions()))
    } else if t.is_dir() {
        Err(refused(path, "is a directory".into()))
    } else if t.is_symlink() {
        // `/dev/stdout` is a link to a device; a link to anything else
        // may have been planted, and replacing it would lose the link.
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() && !m.is_dir() => Ok(Target::Device),
            _ => Err(refused(
                path,
                "is a symbolic link; nnsched does not write through links (name its target)".into(),
            )),
        }
    } else {
        Ok(Target::Device)
    }
}

/// Refuses a target [`write`] would refuse (a directory, a link to a
/// non-device), before work that ends in writing it.
pub fn check_target(path: &Path) -> Result<(), Error> {
    target(path).map(drop)
}

/// Writes `bytes` as the whole content of `path`: a regular file (or a new
/// one) is replaced atomically, after the data is on disk; a device or a
/// FIFO is written directly; a directory or a link to a non-device is
/// refused. On failure the old file is intact and no temporary is left.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    match target(path)? {
        Target::Device => {
            let mut f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| io_error(path, e))?;
            f.write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| io_error(path, e))
        }
        Target::New => replace(path, bytes, None),
        Target::Regular(perm) => replace(path, bytes, Some(perm)),
    }
}

/// A temporary beside `path`, created exclusively under a random name.
fn create_temp(path: &Path) -> Result<(File, PathBuf), Error> {
    let name = path
        .file_name()
        .ok_or_else(|| refused(path, "not a file name".into()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut last = None;
    for _ in 0..16 {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{:016x}.tmp", random()));
        let tmp = dir.join(tmp_name);
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o666);
        match o.open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_error(path, e)),
        }
    }
    Err(io_error(path, last.expect("tried")))
}

fn replace(path: &Path, bytes: &[u8], perm: Option<std::fs::Permissions>) -> Result<(), Error> {
    let (mut f, tmp) = create_temp(path)?;
    let written = (|| {
        f.write_all(bytes)?;
        if let Some(p) = perm {
            f.set_permissions(p)?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(path, e));
    }
    // The rename is durable once the folder is; a failure here loses
    // nothing written.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens `path` to append to it, creating it if need be: only a regular
/// file (or a device), never through a symbolic link.
pub fn append(path: &Path) -> Result<File, Error> {
    if let Target::Device = target(path)? {
        return OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, e));
    }
    let mut o = OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut o, libc::O_NOFOLLOW);
    o.open(path).map_err(|e| io_error(path, e))
}

/// Where an incomplete result meant for `path` goes: `NAME.partial.EXT`
/// beside it, so that it never replaces a complete one; a device (nothing
/// kept there to lose) is written directly.
pub fn partial_path(path: &Path) -> PathBuf {
    if let Ok(Target::Device) = target(path) {
        return path.to_path_buf();
    }
    let mut name = path.file_stem().unwrap_or_default().to_os_string();
    name.push(".partial");
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// Whether two paths name one file (both existing).
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// 64 random bits: std's hasher keys are seeded from the system's random
/// source once per process and stepped for each new hasher.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nnsched-files-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_a_regular_file_keeping_its_mode_and_nothing_else() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("regular");
        let p = d.join("out.json");
        write(&p, b"new file").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(entries(&d), ["out.json"]);
    }

    #[test]
    fn a_planted_link_is_neither_followed_nor_replaced() {
        let d = dir("link");
        let victim = d.join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = d.join("out.json");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = write(&link, b"schedule").unwrap_err().to_string();
        assert!(e.contains("out.json: is a symbolic link"), "{e}");
        let e = append(&link).unwrap_err().to_string();
        assert!(e.contains("is a symbolic link"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        // Links at the old fixed temporary names are ignored: the
        // temporary has a random name and is created exclusively.
        let plain = d.join("plain.json");
        for tmp in [".plain.json.tmp", "plain.json.tmp", "plain.csv.tmp"] {
            std::os::unix::fs::symlink(&victim, d.join(tmp)).unwrap();
        }
        write(&plain, b"ok").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read(&plain).unwrap(), b"ok");
    }

    #[test]
    fn devices_are_written_in_place_and_directories_refused() {
        let d = dir("device");
        write(Path::new("/dev/null"), b"nothing").unwrap();
        let null = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(&null));
        let e = write(Path::new("/dev/full"), b"x").unwrap_err().to_string();
        assert!(e.starts_with("/dev/full: "), "{e}");
        let e = write(&d, b"x").unwrap_err().to_string();
        assert!(e.ends_with("is a directory"), "{e}");
        assert_eq!(entries(&d), Vec::<String>::new());
    }

    #[test]
    fn fifos_are_written_in_place() {
        let d = dir("fifo");
        let fifo = d.join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let f = fifo.clone();
            std::thread::spawn(move || std::fs::read(f).unwrap())
        };
        write(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        let meta = std::fs::symlink_metadata(&fifo).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()));
    }

    #[test]
    fn reads_are_capped_for_devices_and_files() {
        let e = read(Path::new("/dev/zero"), Limit::Hardware)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "/dev/zero: larger than the 1 MiB limit for a hardware file"
        );
        let d = dir("read");
        let big = d.join("big.yaml");
        std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
        let e = read(&big, Limit::Spec).unwrap_err().to_string();
        assert!(
            e.ends_with("larger than the 1 MiB limit for a sweep spec"),
            "{e}"
        );
        std::fs::write(&big, vec![b'#'; 1 << 20]).unwrap();
        assert_eq!(read(&big, Limit::Spec).unwrap().len(), 1 << 20);
        let e = read(&d, Limit::Spec).unwrap_err().to_string();
        assert!(e.ends_with("is a directory"), "{e}");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        // A folder that cannot take a new entry (even for root): the old
        // file is untouched. Rename onto a file in a missing folder.
        let d = dir("fail");
        let p = d.join("out.json");
        std::fs::write(&p, "good").unwrap();
        let missing = d.join("no-such-dir").join("out.json");
        assert!(write(&missing, b"x").is_err());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "good");
        assert_eq!(entries(&d), ["out.json"]);
    }
}
