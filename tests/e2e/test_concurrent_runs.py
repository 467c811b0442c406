"""Item 2: two runs of one date never cross. The second is refused in one line; first runs race safely."""

from tests.support import project


def test_item_2_a_second_run_of_a_date_is_refused_in_one_line_while_the_first_runs(tiny_project):
    root, home = tiny_project
    first = project.start(project.environ(root, home, 8), ds="2019-11-20")
    project.wait_for(first, project.WAITING)
    second = project.run(project.environ(root, home), ds="2019-11-20")
    assert second.returncode == 2
    [line] = second.stderr.splitlines()
    assert line.startswith(f"stagebook: {project.DAG_ID} is already running for 2019-11-20 (run ")
    assert f"process {first.pid} " in line and f"kill -TERM {first.pid}" in line
    assert "Stage 01-wait" not in second.stdout  # it ran nothing
    assert first.wait(timeout=300) == 0, project.output(first)[-3000:]
    runs = list((home / "reports" / project.DAG_ID / "2019-11-20" / "common").iterdir())
    assert len(runs) == 1  # one run's reports: the refused one archived nothing

    again = project.run(project.environ(root, home), ds="2019-11-20")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]  # the lock was let go


def test_item_2_two_first_runs_on_a_new_home_both_run(tiny_project, tmp_path):
    root, _ = tiny_project
    home = tmp_path / "new-home"  # no metastore yet: both commands create it, and the DAG
    runs = [
        project.start(project.environ(root, home), ds=ds) for ds in ("2019-11-18", "2019-11-19")
    ]
    codes = [run.wait(timeout=300) for run in runs]
    printed = "\n".join(project.output(run) for run in runs)
    assert codes == [0, 0], printed[-4000:]
    assert "IntegrityError" not in printed
    assert printed.count("created the Airflow metastore") == 1
