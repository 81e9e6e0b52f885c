//! An install interrupted after its marker is finished from the same file at the next open.

use rocksdb::WriteBatch;

use crate::db::synced;
use crate::sm::{Cfs, KEY_INSTALLING};
use crate::testkit;

#[test]
fn interrupted_install_is_finished_on_open() {
    let a_dir = tempfile::tempdir().unwrap();
    let (_l, a) = crate::open(a_dir.path()).unwrap();
    let entries: Vec<_> = (1..=300).map(|i| testkit::entry(i, testkit::mixed_command(i))).collect();
    a.apply_entries(entries).unwrap();
    let (file, meta) = a.build_snapshot_file().unwrap();
    let want = a.registry_digest().unwrap();

    let b_dir = tempfile::tempdir().unwrap();
    {
        let (_l, b) = crate::open(b_dir.path()).unwrap();
        b.apply_entries([testkit::entry(1, testkit::mixed_command(1))]).unwrap();
        // Do what install does up to a crash: file in place, marker set, registry half gone.
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        std::fs::create_dir_all(&b.snapshot_dir).unwrap();
        std::fs::copy(&file, b.snapshot_dir.join(&name)).unwrap();
        let cfs = Cfs::new(&b.db).unwrap();
        let mut batch = WriteBatch::default();
        batch.put_cf(cfs.meta, KEY_INSTALLING, name.as_bytes());
        batch.delete_range_cf(cfs.exchanges, &[][..], crate::db::ABOVE_ALL_UTF8);
        b.db.write_opt(batch, &synced()).unwrap();
        assert_ne!(b.registry_digest().unwrap(), want);
    }
    let (_l, b) = crate::open(b_dir.path()).unwrap();
    assert_eq!(b.registry_digest().unwrap(), want);
    assert_eq!(b.meta().last_applied, meta.last_log_id);
    assert!(b.db.get_cf(Cfs::new(&b.db).unwrap().meta, KEY_INSTALLING).unwrap().is_none());
}
