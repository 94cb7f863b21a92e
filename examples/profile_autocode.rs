//! Times `Project::autocode` on a copy of an archive, as a first run of the
//! codebook there: `cargo run --release --example profile_autocode -- <archive>
//! <codebook> [threads] [runs]`. Each run codes a fresh copy of the archive
//! (made in the archive's parent folder and removed after), so every run writes
//! what a first run writes. The copy is flushed to disk before the clock
//! starts: otherwise the log's checkpoint after the run's commit, which syncs
//! the database file, would also wait for the copy's pages to be written. With `KEEP=<folder>`
//! the last run's coded copy is moved there instead of removed (to compare what
//! two builds wrote). On stderr: how long closing the project took after the
//! run (it waits for the log's checkpoint, which runs after the commit).
use std::path::Path;
use std::time::Instant;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            std::fs::File::open(&dst).unwrap().sync_all().unwrap();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let archive = Path::new(args.get(1).expect("an archive folder"));
    let cb =
        innsikt::codebook::Codebook::load(Path::new(args.get(2).expect("a codebook"))).unwrap();
    let threads: usize = args.get(3).map_or(1, |s| s.parse().unwrap());
    let runs: usize = args.get(4).map_or(1, |s| s.parse().unwrap());
    let copy = archive.with_extension("profile-copy");
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(archive, &copy);
        let mut p = innsikt::project::Project::open(&copy).unwrap();
        let t = Instant::now();
        let r = p
            .autocode_with_threads(&cb, &mut innsikt::progress::Silent, threads)
            .unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "{} codings of {} passages in {s:.3} s ({threads} thread(s))",
            r.codings, r.passages
        );
        // Closing waits for the checkpoint of the log the run's commit handed
        // to a helper thread.
        let t = Instant::now();
        drop(p);
        eprintln!("closed {:.3} s later", t.elapsed().as_secs_f64());
        match std::env::var_os("KEEP") {
            Some(keep) => {
                let _ = std::fs::remove_dir_all(&keep);
                std::fs::rename(&copy, &keep).unwrap();
            }
            None => std::fs::remove_dir_all(&copy).unwrap(),
        }
    }
}
