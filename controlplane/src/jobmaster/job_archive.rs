//! Every published job, archived next to the rings (a tmpfs), so that a restarted jobmaster can
//! rebuild blocks for the jobs the gateways got from its previous run, and continues job ids after
//! them. Files are `<job id, 8 hex digits>.job`; only the jobs the store holds are kept.

use ironpool_shared::work::JobContext;
use std::path::{Path, PathBuf};

/// An archived job that could not be loaded, set aside as `*.bad`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableJob {
    pub path: PathBuf,
    pub reason: String,
}

/// The archive directory.
#[derive(Debug, Clone)]
pub struct JobArchive {
    dir: PathBuf,
}

impl JobArchive {
    /// Opens (and creates) the directory.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(JobArchive {
            dir: dir.to_owned(),
        })
    }

    fn path(&self, job_id: u32) -> PathBuf {
        self.dir.join(format!("{job_id:08x}.job"))
    }

    /// Writes a job (a temporary file renamed into place: a reader never sees half a job).
    pub fn save(&self, job: &JobContext) -> std::io::Result<()> {
        let path = self.path(job.record.job_id);
        let tmp = self.dir.join(format!(".{:08x}.tmp", job.record.job_id));
        std::fs::write(&tmp, job.encode_archive())?;
        std::fs::rename(tmp, path)
    }

    /// Removes the archived job `job_id`, if there.
    pub fn remove(&self, job_id: u32) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(job_id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every archived job, oldest first, and the files that could not be used (with why).
    /// Unusable files are renamed to `*.bad` so that they are looked at, not loaded again.
    pub fn load(&self) -> std::io::Result<(Vec<JobContext>, Vec<UnusableJob>)> {
        let mut jobs = Vec::new();
        let mut bad = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("job") {
                continue;
            }
            let result = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| JobContext::decode_archive(&bytes).map_err(|e| e.to_string()));
            match result {
                Ok(job) => jobs.push(job),
                Err(why) => {
                    let _ = std::fs::rename(&path, path.with_extension("bad"));
                    bad.push(UnusableJob { path, reason: why });
                }
            }
        }
        jobs.sort_by_key(|j| j.record.created_at_us);
        Ok((jobs, bad))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u32, created_at_us: u64) -> JobContext {
        ironpool_bench::fixtures::job_context(id, true, 1, 0x207f_ffff, created_at_us)
    }

    #[test]
    fn saved_jobs_load_oldest_first_and_damaged_files_are_set_aside() {
        let dir = std::env::temp_dir().join(format!("ironpool-archive-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let archive = JobArchive::open(&dir).expect("open");
        archive.save(&job(7, 200)).expect("save");
        archive.save(&job(3, 100)).expect("save");
        std::fs::write(dir.join("0000000b.job"), b"not a job").expect("write");
        let (jobs, bad) = archive.load().expect("load");
        assert_eq!(
            jobs.iter().map(|j| j.record.job_id).collect::<Vec<_>>(),
            [3, 7]
        );
        assert_eq!(jobs[1], job(7, 200));
        assert_eq!(bad.len(), 1);
        assert!(
            dir.join("0000000b.bad").exists(),
            "damaged file renamed, not deleted"
        );
        archive.remove(3).expect("remove");
        archive.remove(3).expect("removing twice is fine");
        assert_eq!(archive.load().expect("load").0.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
