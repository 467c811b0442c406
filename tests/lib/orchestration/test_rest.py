"""Which served Airflow the commands call, and as whom: ``stagebook.orchestration.commands.rest``."""

import pytest

from stagebook.orchestration.commands import rest


def test_the_connection_names_the_airflow_and_its_scheme(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_STAGEBOOK_AIRFLOW", "https://rita:s3cret@airflow.example:8443")
    conn = rest._connection()
    assert rest._base(conn) == "https://airflow.example:8443"
    assert (conn.login, conn.password) == ("rita", "s3cret")


def test_nothing_served_and_no_url_means_in_process(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_STAGEBOOK_AIRFLOW", raising=False)
    assert rest.connect(None, owner_may_fall_back=True) is None


def test_a_url_without_a_user_says_how_to_name_one(monkeypatch):
    monkeypatch.delenv(rest.TOKEN_VARIABLE, raising=False)
    with pytest.raises(rest.RestError, match=r"^http://h:1: say who you are: --username NAME"):
        rest.connect("http://h:1/")


def test_a_token_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv(rest.TOKEN_VARIABLE, "t0ken")
    airflow = rest.connect("http://h:1/")
    assert (airflow.base, airflow.token) == ("http://h:1", "t0ken")


def test_an_airflow_that_does_not_answer_is_one_line():
    with pytest.raises(rest.RestError) as caught:
        rest.login("http://127.0.0.1:9", "rita", "pw")
    assert "\n" not in str(caught.value) and "no answer from Airflow" in str(caught.value)


def test_a_password_file_that_cannot_be_read_names_it(tmp_path):
    with pytest.raises(rest.RestError, match="--password-file .*missing: cannot read it"):
        rest.connect("http://h:1", username="rita", password_file=tmp_path / "missing")
