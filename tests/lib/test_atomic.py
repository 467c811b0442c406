import os
import stat
import subprocess
import threading

import pytest

from stagebook import atomic


def test_replacing_swaps_a_folder_in_whole(tmp_path):
    target = tmp_path / "ds=2019-11-20"
    target.mkdir()  # a folder from before versioned folders
    (target / "old.txt").write_text("old")
    with atomic.replacing(target) as folder:
        (folder / "new.txt").write_text("new")
        assert not (target / "new.txt").exists()  # readers see the old folder until the swap
    assert target.is_symlink() and sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["ds=2019-11-20"]
    retired = sorted(tmp_path.glob(".ds=2019-11-20.v*.retired"))
    assert len(retired) == 1 and (retired[0].with_suffix("") / "old.txt").exists()  # for a minute


def test_replacing_leaves_the_folder_as_it_was_when_the_block_fails(tmp_path):
    target = tmp_path / "ds=2019-11-20"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic.replacing(target) as folder:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("the stage failed half-way")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds=2019-11-20"]  # no version left


def test_an_atomic_write_leaves_no_temporary_file(tmp_path):
    target = atomic.write_json(tmp_path / "a" / "b.json", {"x": 1})
    assert target.read_text() == '{\n  "x": 1\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_finding_6_archive_files_and_folders_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        written = atomic.write_text(tmp_path / "a" / "report.html", "x")
        with atomic.replacing(tmp_path / "ds=2019-11-20") as folder:
            (folder / "table.parquet").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "ds=2019-11-20").stat().st_mode) == 0o777 & ~umask


def test_finding_7_readers_never_find_the_folder_missing_during_swaps(tmp_path):
    target = tmp_path / "ds=2019-11-20"
    with atomic.replacing(target) as folder:
        (folder / "recommendations.parquet").write_text("0")
    misses, reads, done = [], [0], threading.Event()

    def read():
        while not done.is_set():
            reads[0] += 1
            if not (target / "recommendations.parquet").exists():
                misses.append(reads[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(300):
            with atomic.replacing(target) as folder:
                (folder / "recommendations.parquet").write_text(str(n))
    finally:
        done.set()
        reader.join()
    assert reads[0] > 300 and misses == []
    assert (target / "recommendations.parquet").read_text() == "299"
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [target.name]


def test_a_retired_version_is_deleted_after_the_grace_period(tmp_path, monkeypatch):
    target = tmp_path / "ds=2019-11-20"
    for n in range(3):
        with atomic.replacing(target) as folder:
            (folder / "n.txt").write_text(str(n))
    assert len(list(tmp_path.glob(".ds=2019-11-20.v*.retired"))) == 2
    monkeypatch.setattr(atomic, "RETIRED_GRACE_S", 0.0)
    with atomic.replacing(target) as folder:
        (folder / "n.txt").write_text("3")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()) == [
        os.readlink(target)
    ]


def test_finding_7_two_writers_swapping_at_once_both_succeed(tmp_path):
    target = tmp_path / "ds=2019-11-20"
    errors = []

    def write(writer):
        try:
            for n in range(100):
                with atomic.replacing(target) as folder:
                    (folder / "part.txt").write_text(f"{writer}-{n}")
        except Exception as exc:  # the failure the test looks for
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(w,)) for w in "ab"]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    assert errors == []
    assert (target / "part.txt").read_text() in {"a-99", "b-99"}


def test_a_swap_the_disk_refuses_leaves_no_version_behind(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    # three inodes: the root, the new version and its file; the link gets none
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=3", "tmpfs", disk], check=True)
    try:
        with pytest.raises(OSError), atomic.replacing(disk / "scores") as folder:
            (folder / "part.txt").write_text("x")
        assert sorted(p.name for p in disk.iterdir()) == []  # no version, no link, no target
    finally:
        subprocess.run(["umount", "-l", disk], check=True)
