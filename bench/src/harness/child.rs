//! Child processes of the harness: the pool's own binaries, and load generators driven through
//! their `--control` stdin protocol (one command line in, one answer line out).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A binary next to the running one (the harness is built in the same target directory).
pub fn sibling_binary(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let path = exe
        .parent()
        .ok_or("current_exe has no directory")?
        .join(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release)",
            path.display()
        ))
    }
}

/// A process that is killed (SIGTERM, then SIGKILL) when dropped.
pub struct Process {
    pub name: String,
    pub child: Child,
}

impl Process {
    /// Starts `binary args`, stderr appended to `log`.
    pub fn spawn(
        name: &str,
        binary: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(binary)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{name}: {}: {e}", binary.display()))?;
        Ok(Process {
            name: name.to_owned(),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits up to `grace` before SIGKILL.
    pub fn terminate(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which is not reaped until wait below.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// A `loadgen --control` process.
pub struct LoadgenProcess {
    pub process: Process,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl LoadgenProcess {
    pub fn spawn(binary: &Path, args: &[String], log: &Path) -> Result<LoadgenProcess, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new(binary)
            .args(args)
            .arg("--control")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("loadgen: {}: {e}", binary.display()))?;
        let stdin = child.stdin.take().ok_or("loadgen stdin")?;
        let stdout: ChildStdout = child.stdout.take().ok_or("loadgen stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(LoadgenProcess {
            process: Process {
                name: "loadgen".into(),
                child,
            },
            stdin,
            lines,
        })
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &str) -> Result<(), String> {
        writeln!(self.stdin, "{command}").map_err(|e| format!("loadgen stdin: {e}"))
    }

    /// The next line it prints, within `timeout`.
    pub fn answer(&mut self, timeout: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) if line.starts_with("ERROR") => Err(format!("loadgen: {line}")),
            Ok(line) => Ok(line),
            Err(_) => Err(format!(
                "loadgen {} gave no answer within {timeout:?} (exited: {})",
                self.process.pid(),
                self.process.exited()
            )),
        }
    }
}

impl Drop for LoadgenProcess {
    fn drop(&mut self) {
        // Let it close its connections and print its FINAL line before the
        // Process drop sends SIGTERM.
        let _ = writeln!(self.stdin, "stop");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while !self.process.exited() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
