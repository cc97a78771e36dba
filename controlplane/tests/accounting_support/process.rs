//! The metawriter and metarelay as child processes of the test (the real binary), so that they
//! can be SIGKILLed and started again on the same spool.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RoleProcess {
    role: &'static str,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Environment of the next start only (fault injection).
    env_once: Vec<(String, String)>,
}

/// Writes a 32-byte key file and returns its path.
pub fn write_key(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, [byte; 32]).expect("key file");
    path
}

impl RoleProcess {
    /// Starts `ironpool-control <role> --config <config>`, logging to `<config>.log`.
    pub fn start(role: &'static str, config: PathBuf) -> RoleProcess {
        Self::start_with_env(role, config, Vec::new())
    }

    /// As `start`, with `env` set for this first start only.
    pub fn start_with_env(
        role: &'static str,
        config: PathBuf,
        env: Vec<(String, String)>,
    ) -> RoleProcess {
        let log = config.with_extension("log");
        let mut process = RoleProcess {
            role,
            config,
            log,
            child: None,
            starts: 0,
            env_once: env,
        };
        process.spawn();
        process
    }

    /// Whether the process has exited by itself (a crash or an abort).
    pub fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ironpool-control"))
            .envs(std::mem::take(&mut self.env_once))
            .arg(self.role)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ironpool-control");
        self.child = Some(child);
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // Our own child, not yet reaped: its pid cannot have been reused.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn starts(&self) -> u32 {
        self.starts
    }
}

impl Drop for RoleProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the metawriter's status file.
pub fn status(spool_dir: &Path) -> serde_json::Value {
    std::fs::read_to_string(spool_dir.join("status.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// A loopback address nobody listens on yet.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}
