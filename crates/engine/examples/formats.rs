//! Writes the same directory as a format 1 and a format 2 archive and prints the plan and
//! write times, sizes and the server-less throughput of each: the measurement behind
//! BENCHMARKS.md's "Archive format 2" section. Not a test; run in release:
//! `cargo run --release -p dsbackup-engine --example formats -- DIR [OUT_DIR] [FORMATS]`
//! (`FORMATS`: `1,2` by default; `2` alone keeps format 1's in-memory manifest out of a peak
//! RSS measurement).

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use dsbackup_engine::{Control, Planner, WriteOptions, write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: formats DIR [OUT_DIR]")?);
    let out_dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp".into()));
    let formats: Vec<u32> = args
        .next()
        .unwrap_or_else(|| "1,2".into())
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let cancel = AtomicBool::new(false);
    let none = |_: u64, _: u64| {};
    let control = Control::new(&cancel, &none);
    for format in formats {
        let t0 = Instant::now();
        let mut planner = Planner::new();
        planner.add_tree("files", "directory", &dir, "sources/files")?;
        let plan = if format == 1 {
            planner.finish(&control)?
        } else {
            planner.finish_unhashed()?
        };
        let planned = t0.elapsed();
        let path = out_dir.join(format!("formats-v{format}.tar.zst"));
        let file = std::fs::File::create(&path)?;
        let opts = WriteOptions {
            format_version: format,
            ..WriteOptions::default()
        };
        let (file, summary) = write(&plan, std::io::BufWriter::new(file), &opts, &control)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let total = t0.elapsed();
        let mib = summary.content_bytes as f64 / (1 << 20) as f64;
        println!(
            "format {format}: plan {:.2} s, write {:.2} s, total {:.2} s ({:.0} MiB/s), {} entries, archive {:.1} MiB",
            planned.as_secs_f64(),
            (total - planned).as_secs_f64(),
            total.as_secs_f64(),
            mib / total.as_secs_f64(),
            summary.entries,
            summary.size as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}
