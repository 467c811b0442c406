import datetime as dt

import pytest

from recsys import duckdb_tables
from recsys import paths as datasets
from stagebook import params
from stagebook.errors import ParamsError

DAY = dt.date(2019, 11, 20)


def setting(con, name):
    return con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def test_the_default_params_hold_duckdb_well_under_its_own_default_of_80_percent_of_ram(tmp_path):
    p = params.load().tables
    paths = datasets.paths(DAY, "common", tmp_path)
    con = duckdb_tables.connect(paths, p.duckdb_memory_limit, p.duckdb_temp_dir)
    try:
        assert setting(con, "memory_limit") == "1.5 GiB"
        assert setting(con, "temp_directory") == str(paths.spill)  # relative: the archive's tmp
    finally:
        con.close()


def test_duckdb_memory_limit_and_temp_dir_from_params_are_applied(tmp_path):
    paths = datasets.paths(DAY, "common", tmp_path)
    con = duckdb_tables.connect(paths, "512MB", str(tmp_path / "elsewhere"))
    try:
        assert setting(con, "memory_limit") == "488.2 MiB"  # 512e6 bytes, as DuckDB prints them
        assert setting(con, "temp_directory") == str(tmp_path / "elsewhere")  # absolute: as is
    finally:
        con.close()
    assert (tmp_path / "elsewhere").is_dir()


@pytest.mark.parametrize("bad", ["lots", "2 parsecs", "-1GB", ""])
def test_a_memory_limit_that_is_not_a_size_is_a_one_line_params_error_naming_the_key(bad):
    with pytest.raises(ParamsError) as err:
        params.load(overrides={"tables.duckdb_memory_limit": bad})
    message = str(err.value)
    assert "\n" not in message
    assert "tables.duckdb_memory_limit" in message and "e.g. 1.5GiB or 512MB" in message
