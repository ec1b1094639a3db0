//! How fast superion's readers go, apart from any analysis: stream a trajectory into a
//! sink that only touches each block of frames, and print the file's size over the
//! wall time (MB/s), the frames and atoms read.
//!
//!     cargo run --release --example read_throughput -- FILE [--timestep-fs F --stride N]
//!         [--topology T] [--type-map 1=Li,2=O]
//!
//! `benches/stream_scale.sh` runs it beside `wc -l` and `cat` on the same file.

use std::path::PathBuf;

use superion::io::traj_input::{TrajReadOptions, stream_trajectory};
use superion::traj::TimeStep;
use superion::traj::stream::FrameSink;

/// Counts frames and sums one coordinate per frame (so that nothing is optimised away).
#[derive(Default)]
struct Touch {
    atoms: usize,
    frames: usize,
    sum: f64,
}

impl FrameSink for Touch {
    fn begin(&mut self, species: &[String]) -> superion::Result<()> {
        self.atoms = species.len();
        Ok(())
    }

    fn frames(
        &mut self,
        frac: &[f32],
        cells: &[[[f64; 3]; 3]],
        _: Option<&[f32]>,
    ) -> superion::Result<()> {
        self.frames += cells.len();
        self.sum += frac
            .iter()
            .step_by(3 * self.atoms.max(1))
            .map(|v| *v as f64)
            .sum::<f64>();
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first().map(PathBuf::from) else {
        eprintln!(
            "usage: read_throughput FILE [--timestep-fs F --stride N] [--topology T] [--type-map 1=Li,2=O]"
        );
        std::process::exit(2);
    };
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let opts = TrajReadOptions {
        time: TimeStep {
            timestep_fs: value("--timestep-fs").map(|v| v.parse()).transpose()?,
            stride: value("--stride").map(|v| v.parse()).transpose()?,
        },
        topology: value("--topology").map(PathBuf::from),
        type_map: match value("--type-map") {
            Some(m) => superion::io::lammps::parse_type_map(&m)?,
            None => Default::default(),
        },
        ..Default::default()
    };
    let bytes = std::fs::metadata(&file)?.len();
    let mut sink = Touch::default();
    let t0 = std::time::Instant::now();
    stream_trajectory(&file, &opts, &mut sink)?;
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{}: {} frames x {} atoms, {:.0} MB in {:.2} s: {:.0} MB/s ({:.1} M atom-frames/s; checksum {:.3})",
        file.display(),
        sink.frames,
        sink.atoms,
        bytes as f64 / 1e6,
        secs,
        bytes as f64 / 1e6 / secs,
        (sink.frames * sink.atoms) as f64 / 1e6 / secs,
        sink.sum
    );
    Ok(())
}
