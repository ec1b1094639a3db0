//! PhononDB entries: the reference archives of ../shared/data/phonondb-li read in
//! memory (skipped when that folder is absent), every one of the 873 read without
//! error, an unpacked folder read the same as its archive, and malformed parts named.

use std::path::PathBuf;

use superion::io::phonondb::read_entry;

fn db() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/phonondb-li");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("../shared/data/phonondb-li is absent: skipping");
        None
    }
}

#[test]
fn reference_entries_read_with_consistent_parts() {
    let Some(db) = db() else { return };
    // (archive, id, unit-cell atoms, supercell atoms, has BORN)
    for (file, id, n_unit, n_super) in [
        ("materials-id-1138-lif-fm-3m-225.tar.lzma", "mp-1138", 8, 64),
        (
            "materials-id-1960-li2o-fm-3m-225.tar.lzma",
            "mp-1960",
            12,
            96,
        ),
        (
            "materials-id-2341-li3n-p6-3-mmc-194.tar.lzma",
            "mp-2341",
            8,
            0,
        ),
        (
            "materials-id-985583-li3ps4-pnma-62.tar.lzma",
            "mp-985583",
            32,
            0,
        ),
    ] {
        let e = read_entry(&db.join(file)).unwrap();
        assert_eq!(e.id, id);
        assert_eq!(e.unitcell.species.len(), n_unit, "{id}");
        if n_super > 0 {
            assert_eq!(e.n_supercell_atoms, n_super, "{id}");
        }
        assert!(!e.force_sets.is_empty());
        assert!(
            e.force_sets
                .iter()
                .all(|s| s.forces.len() == e.n_supercell_atoms)
        );
        assert!(e.unitcell.species.iter().any(|s| s == "Li"));
        // Displacements of PhononDB are 0.01 Å.
        for s in &e.force_sets {
            let d = s.displacement.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((d - 0.01).abs() < 1e-6, "{id}: displacement {d}");
        }
    }
}

#[test]
fn every_li_entry_reads_and_a_folder_reads_like_its_archive() {
    let Some(db) = db() else { return };
    let mut names: Vec<_> = std::fs::read_dir(&db)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 873);
    let failures: Vec<String> = names
        .iter()
        .filter_map(|p| read_entry(p).err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Unpack one archive and read the folder.
    let tmp = std::env::temp_dir().join(format!("superion-pdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let arch = db.join("materials-id-1138-lif-fm-3m-225.tar.lzma");
    let st = std::process::Command::new("tar")
        .args([
            "--lzma",
            "-xf",
            arch.to_str().unwrap(),
            "-C",
            tmp.to_str().unwrap(),
        ])
        .status();
    if st.is_ok_and(|s| s.success()) {
        let folder = tmp.join("mp-1138-20180417");
        let a = read_entry(&arch).unwrap();
        let f = read_entry(&folder).unwrap();
        assert_eq!(f.id, "mp-1138");
        assert_eq!(
            (a.unitcell, a.force_sets, a.born),
            (f.unitcell, f.force_sets, f.born.clone())
        );
        // A malformed part is named with its line; a missing one is named.
        let fs = folder.join("FORCE_SETS");
        let text = std::fs::read_to_string(&fs).unwrap();
        std::fs::write(&fs, text.replacen("0.0100000000000000", "0.01 x", 1)).unwrap();
        let e = read_entry(&folder).unwrap_err().to_string();
        assert!(e.contains("FORCE_SETS:5"), "{e}");
        std::fs::remove_file(&fs).unwrap();
        let e = read_entry(&folder).unwrap_err().to_string();
        assert!(e.contains("missing") && e.contains("FORCE_SETS"), "{e}");
        assert!(f.born.is_some());
    }
}
