"""The outbox publishes a date's records and metadata together, or not at all."""

import errno
import json
import os
import subprocess

import pandas as pd
import pytest

from recsys import paths as datasets
from recsys import sinks
from tests.support.samples import RECS

DS, PHASE = "2019-10-23", "beta"
FIRST = sinks.format_records(RECS, ds=DS, phase=PHASE)
SECOND = sinks.format_records(RECS.assign(score=RECS["score"] / 2), ds=DS, phase=PHASE)
MANY = sinks.format_records(  # 40 users: records over one page, so they can half fit
    pd.concat([RECS.assign(user_id=RECS["user_id"] + f"-{n:02d}") for n in range(20)]),
    ds=DS,
    phase=PHASE,
)
APPROVED = {"approval": {"decision": "approved", "by": "rita"}}
PAGE = 4096  # what tmpfs allocates a file's data in


@pytest.fixture
def small_disk(tmp_path):
    """Yield a real 256 KiB filesystem (tmpfs), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"a full disk needs a tmpfs, and mount failed: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk, leave_pages):
    """Take all of ``disk``'s free space but ``leave_pages`` pages; return the file that holds it."""
    free = os.statvfs(disk)
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY)
    try:
        os.posix_fallocate(fd, 0, free.f_bavail * free.f_frsize - leave_pages * PAGE)
    finally:
        os.close(fd)
    return filler


def as_read(sink):
    """Return what a reader finds for DS: (records, metadata), or None when nothing is there."""
    records, meta = sink.target(DS), datasets.outbox_meta(sink.target(DS))
    assert records.exists() == meta.exists(), "records without metadata, or metadata without"
    found = sink.read(DS)
    if found is None:
        return None
    published = [json.loads(line) for line in found.lines.splitlines()]
    assert found.meta["digest"] == sinks.digest(published), (
        "records of one publication, meta of another"
    )
    return published, found.meta


def leftovers(sink):
    """Return what a write left in the outbox besides the date, its version and retired ones."""
    folder, link = sink.folder, datasets.outbox_folder(sink.folder, DS)
    kept = {link.name, os.readlink(link)} if link.is_symlink() else set()
    names = {p.name for p in folder.iterdir()} - kept
    retired = {n for n in names if n.endswith(".retired")}
    return sorted(names - retired - {n.removesuffix(".retired") for n in retired})


@pytest.mark.parametrize(
    "leave_pages", [0, 1, 2], ids=["no-room", "room-for-half-the-records", "no-room-for-meta"]
)
@pytest.mark.parametrize("earlier", [None, FIRST], ids=["first-publish", "re-publish"])
def test_a_full_disk_during_publish_leaves_data_and_meta_of_one_publication(
    small_disk, leave_pages, earlier
):
    assert PAGE < len("\n".join(sinks.record_lines(MANY))) + 1 <= 2 * PAGE  # two pages of records
    sink = sinks.OutboxSink(small_disk / "outbox" / PHASE)
    if earlier:
        sink.publish(earlier, ds=DS, phase=PHASE, meta=APPROVED)
    before = as_read(sink)
    filler = fill(small_disk, leave_pages)

    with pytest.raises(OSError) as caught:  # the error reaches the task, which fails (and retries)
        sinks.publish(MANY, [sink], ds=DS, phase=PHASE, meta=APPROVED)
    assert caught.value.errno == errno.ENOSPC

    assert as_read(sink) == before  # the earlier publication whole, or none at all
    assert leftovers(sink) == []
    filler.unlink()  # room again: the next try publishes both
    assert sink.publish(MANY, ds=DS, phase=PHASE, meta=APPROVED).action == (
        "replaced" if earlier else "published"
    )
    assert as_read(sink) == (MANY, {"digest": sinks.digest(MANY), **APPROVED})
    assert leftovers(sink) == []


def test_the_same_records_are_skipped_and_a_new_approval_replaces_only_the_metadata(tmp_path):
    sink = sinks.OutboxSink(tmp_path / PHASE)
    assert sink.publish(FIRST, ds=DS, meta=APPROVED).action == "published"
    assert sink.publish(FIRST, ds=DS, meta=APPROVED).action == "skipped"
    again = {"approval": {"decision": "approved", "by": "tom"}}
    assert sink.publish(FIRST, ds=DS, meta=again).action == "skipped"
    assert as_read(sink) == (FIRST, {"digest": sinks.digest(FIRST), **again})
    assert sink.publish(SECOND, ds=DS).action == "replaced"
    assert as_read(sink) == (SECOND, {"digest": sinks.digest(SECOND)})  # no stale approval
    assert leftovers(sink) == []


def test_a_date_published_before_dates_had_folders_is_replaced_by_its_folder(tmp_path):
    sink = sinks.OutboxSink(tmp_path / PHASE)
    old_records, old_meta = datasets.outbox_legacy(sink.folder, DS)
    sink.folder.mkdir(parents=True)
    old_records.write_text("".join(line + "\n" for line in sinks.record_lines(FIRST)))
    old_meta.write_text(json.dumps({"digest": sinks.digest(FIRST)}))
    assert sink.publish(FIRST, ds=DS).action == "replaced"
    assert not old_records.exists() and not old_meta.exists()
    assert as_read(sink) == (FIRST, {"digest": sinks.digest(FIRST)})
