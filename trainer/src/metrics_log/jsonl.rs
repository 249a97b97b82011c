//! `metrics.jsonl`: one JSON object per finished step.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0-based index of the step.
    pub step: usize,
    /// The optimised loss.
    pub loss: f64,
    /// Named loss terms (e.g. `bce`, `dice`), when the stage has several.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub terms: BTreeMap<String, f64>,
    pub lr: f64,
    /// Global gradient L2 norm before clipping.
    pub grad_norm: f64,
    pub step_seconds: f64,
    /// Training voxels (SSL: positive voxel pairs; density: pooled voxels) per second.
    pub voxels_per_second: f64,
}

/// Appends records to a stage's `metrics.jsonl`.
pub struct MetricsLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsLog {
    /// Opens the log so that it continues after `start` finished steps: records of steps
    /// `>= start` (written after the checkpoint being resumed) are dropped; `start = 0`
    /// starts an empty log.
    pub fn open(path: &Path, start: usize) -> std::io::Result<Self> {
        let kept: Vec<StepRecord> = if start > 0 && path.exists() {
            read_records(path)?
                .into_iter()
                .filter(|r| r.step < start)
                .collect()
        } else {
            Vec::new()
        };
        let mut out = BufWriter::new(File::create(path)?);
        for r in &kept {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        }
        out.flush()?;
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        })
    }

    pub fn append(&mut self, record: &StepRecord) -> std::io::Result<()> {
        writeln!(self.out, "{}", serde_json::to_string(record)?)?;
        self.out.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Every record of a log, in file order.
pub fn read_records(path: &Path) -> std::io::Result<Vec<StepRecord>> {
    let reader = BufReader::new(File::open(path)?);
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(step: usize) -> StepRecord {
        StepRecord {
            step,
            loss: 1.0 / (step + 1) as f64,
            terms: BTreeMap::from([("bce".to_string(), 0.5)]),
            lr: 1e-3,
            grad_norm: 2.0,
            step_seconds: 0.1,
            voxels_per_second: 1e4,
        }
    }

    #[test]
    fn resuming_drops_the_records_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path, 0).unwrap();
        for s in 0..6 {
            log.append(&record(s)).unwrap();
        }
        drop(log);
        let mut log = MetricsLog::open(&path, 4).unwrap();
        log.append(&record(4)).unwrap();
        let steps: Vec<usize> = read_records(&path)
            .unwrap()
            .iter()
            .map(|r| r.step)
            .collect();
        assert_eq!(steps, vec![0, 1, 2, 3, 4]);
        assert_eq!(read_records(&path).unwrap()[0], record(0));
    }
}
