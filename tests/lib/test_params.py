import datetime as dt
import shutil

import pytest

from stagebook import params, runconf, settings
from stagebook.errors import ParamsError, RunConfError


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "params"
    shutil.copytree(settings.params_dir(), target)
    return target


def test_phase_file_overrides_common_and_keeps_the_rest():
    prod, beta = params.load("prod"), params.load("beta")
    common = params.load(None)
    assert beta.train.k == 8 and prod.train.k == 4
    assert beta.train.base_lr == common.train.base_lr
    assert beta.inference == common.inference


def test_overrides_merge_over_the_phase_file():
    merged = params.load("beta", {"train.k": 2, "inference.top_k": 3})
    assert merged.train.k == 2
    assert merged.inference.top_k == 3
    assert merged.train.epochs == params.load("beta").train.epochs


def test_known_phases_come_from_the_files(folder):
    assert params.known_phases(folder) == ["beta", "prod"]
    (folder / "staging.yaml").write_text("train:\n  k: 2\n")
    assert params.known_phases(folder) == ["beta", "prod", "staging"]


def test_bad_value_names_the_file_and_the_key(folder):
    (folder / "prod.yaml").write_text("train:\n  base_lr: -1\n")
    with pytest.raises(ParamsError) as err:
        params.load("prod", folder=folder)
    assert f"{folder / 'prod.yaml'}: train.base_lr" in str(err.value)


def test_unknown_key_names_the_file_and_the_key(folder):
    (folder / "common.yaml").write_text((folder / "common.yaml").read_text() + "\ntrain_extra: 1\n")
    with pytest.raises(ParamsError) as err:
        params.load(None, folder=folder)
    assert f"{folder / 'common.yaml'}: train_extra" in str(err.value)


def test_unreadable_yaml_names_the_file(folder):
    (folder / "beta.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="beta.yaml: not valid YAML"):
        params.load("beta", folder=folder)


def test_unknown_phase_lists_the_known_ones():
    with pytest.raises(RunConfError, match="unknown phase.*'gamma'.*known phases are beta, prod"):
        params.resolve_run_conf({"phases": ["gamma"]})


def test_override_of_an_unknown_key_is_refused():
    with pytest.raises(RunConfError, match="unknown key 'train.speed'.*train.base_lr"):
        params.resolve_run_conf({"overrides": {"train.speed": 2}})
    with pytest.raises(RunConfError, match="unknown key 'nosuch'"):
        params.resolve_run_conf({"overrides": {"nosuch.key": 2}})


def test_override_with_a_bad_value_names_the_run_conf():
    with pytest.raises(ParamsError, match="run conf 'overrides': train.epochs"):
        params.resolve_run_conf({"overrides": {"train.epochs": 0}})


def test_run_conf_defaults_to_the_phases_in_params():
    assert params.resolve_run_conf(None) == params.load().pipeline.phases
    assert params.resolve_run_conf({"phases": ["beta"]}) == ["beta"]
    with pytest.raises(RunConfError, match="unknown keys"):
        params.resolve_run_conf({"phase": "beta"})


def test_defaults_are_stated_once_in_common_yaml_and_a_missing_key_is_named(folder):
    common = folder / "common.yaml"
    common.write_text(common.read_text().replace("  top_k: 10", "  # top_k removed"))
    with pytest.raises(ParamsError, match=f"{common}: inference.top_k: Field required"):
        params.load("prod", folder=folder)


def test_common_yaml_names_the_schema_that_validates_it(folder):
    assert type(params.load(folder=folder)).__name__ == "RecsysParams"
    common = folder / "common.yaml"
    text = common.read_text()
    common.write_text(text.replace("recsys.params:RecsysParams", "nowhere:Nothing"))
    with pytest.raises(ParamsError, match="common.yaml: schema: cannot import 'nowhere:Nothing'"):
        params.load(folder=folder)
    common.write_text(text.replace("recsys.params:RecsysParams", "pathlib:Path"))
    with pytest.raises(ParamsError, match="is not a subclass of stagebook.params.Params"):
        params.load(folder=folder)


def test_the_schema_is_not_an_overridable_key():
    with pytest.raises(RunConfError, match="unknown key 'schema'; known keys here"):
        params.load("prod", {"schema.x": 1})


def test_the_latest_complete_date_is_yesterday_or_the_sources_last_day():
    merged = params.load()
    anchor = merged.data.anchor_date
    assert merged.latest_complete_date(anchor + dt.timedelta(days=30)) == anchor
    assert merged.latest_complete_date(anchor) == anchor - dt.timedelta(days=1)
    assert merged.seed(anchor) == merged.data.seed + anchor.toordinal()


def test_a_dotted_key_reads_a_value():
    assert params.value(params.load("prod"), "publish.redis_conn_id") == "stagebook_redis"
    with pytest.raises(ParamsError, match="no key 'publish.nothing'"):
        params.value(params.load("prod"), "publish.nothing")


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"train.epochs": True}, "train.epochs: Value error, a number is expected, not true"),
        ({"train.k": 1000}, "train.k: Input should be less than or equal to 256"),
        ({"data.events_per_day": 10**9}, "data.events_per_day: Input should be less than"),
        ({"tables.train_days": 0}, "tables.train_days: Input should be greater than 1"),
        ({"inference.top_k": 5000}, "inference.top_k: Input should be less than or equal"),
    ],
)
def test_finding_10_numbers_have_bounds_and_a_boolean_is_not_a_number(overrides, said):
    with pytest.raises(ParamsError, match=f"run conf 'overrides': {said}"):
        params.load("prod", overrides)


@pytest.mark.parametrize("phases", [5, [5], {"prod": 1}])
def test_finding_10_phases_that_are_not_names_are_a_params_error(phases):
    with pytest.raises(RunConfError, match="'phases' must be a list of phase names"):
        params.resolve_run_conf({"phases": phases})


@pytest.mark.parametrize("key", ["pipeline.retries", "pipeline.phases", "publish.redis_conn_id"])
def test_finding_10_overrides_the_dag_cannot_honour_are_refused(key):
    with pytest.raises(RunConfError, match=f"'{key}' cannot be overridden by a run"):
        params.resolve_run_conf({"overrides": {key: "x"}})


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("notifications.channels", [], "who hears about a run is not the run's to choose"),
        ("notifications.email_to", ["x@attacker.example"], "who hears about a run"),
        ("notifications.slack_conn_id", "other", "who hears about a run"),
        ("publish.sinks", ["outbox"], "where recommendations go"),
        ("validation.max_js", 1.0, "may override only data, tables, features, train, inference"),
        ("validation.approvers", ["mallory"], "who may approve is not the run's to choose"),
    ],
)
def test_finding_9_a_run_conf_may_override_only_the_allowlist_in_params(key, value, said):
    with pytest.raises(RunConfError, match=f"'{key}' cannot be overridden by a run: .*{said}"):
        params.resolve_run_conf({"overrides": {key: value}})
    assert params.load("prod").pipeline.overridable == [
        "data",
        "tables",
        "features",
        "train",
        "inference",
    ]
    assert params.resolve_run_conf({"overrides": {"train.k": 2, "data.seed": 3}})


@pytest.mark.parametrize(
    ("listed", "said"),
    [
        (["notifications"], "'notifications' would let a run override 'notifications'"),
        (["publish.sinks"], "'publish.sinks' would let a run override 'publish'"),
        (["train.speed"], "unknown key 'train.speed'"),
        (["validation"], "'validation' would let a run override 'validation.approvers'"),
    ],
)
def test_finding_9_the_allowlist_never_opens_notifications_publish_or_pipeline(
    folder, listed, said
):
    common = folder / "common.yaml"
    common.write_text(
        common.read_text().replace(
            "overridable: [data, tables, features, train, inference]", f"overridable: {listed}"
        )
    )
    with pytest.raises(ParamsError, match=f"common.yaml: pipeline.overridable: {said}"):
        params.load(folder=folder)


def test_a_soft_limit_looser_than_its_hard_limit_names_the_file_and_the_key(folder):
    prod = folder / "prod.yaml"
    prod.write_text(prod.read_text() + "validation:\n  soft: {max_kl: 3.0}\n")
    with pytest.raises(
        ParamsError, match=r"prod.yaml: validation.soft: .*soft.max_kl = 3.0 must be at most"
    ):
        params.load("prod", folder=folder)
    prod.write_text(prod.read_text().replace("max_kl: 3.0", "min_user_coverage: 0.5"))
    with pytest.raises(ParamsError, match="soft.min_user_coverage = 0.5 must be at least"):
        params.load("prod", folder=folder)


def test_soft_limits_and_the_approval_timeout_are_optional_and_checked(folder):
    common = folder / "common.yaml"
    text = common.read_text()
    common.write_text(text.replace("  soft: {}\n", "").replace("  approval_timeout_s: 86400", ""))
    loaded = params.load("prod", folder=folder).validation
    assert loaded.soft.max_kl is None and loaded.approval_timeout_s == 86400
    common.write_text(text.replace("approval_timeout_s: 86400", "approval_timeout_s: 0"))
    with pytest.raises(ParamsError, match="validation.approval_timeout_s"):
        params.load("prod", folder=folder)


def test_a_yaml_syntax_error_is_one_line_with_the_file_line_and_column(folder):
    (folder / "prod.yaml").write_text("train:\n  k: [4\n")
    with pytest.raises(ParamsError) as err:
        params.load("prod", folder=folder)
    assert str(err.value) == (
        f"{folder / 'prod.yaml'}: not valid YAML at line 3, column 1: expected ',' or ']', "
        "but got '<stream end>' (while parsing a flow sequence at line 2, column 6); fix the file"
    )


def test_each_bad_value_is_its_own_line_naming_the_file_and_the_key(folder):
    (folder / "prod.yaml").write_text("train:\n  k: 0\n  epochs: -1\n")
    with pytest.raises(ParamsError) as err:
        params.load("prod", folder=folder)
    assert str(err.value).splitlines() == [
        f"{folder / 'prod.yaml'}: train.k: Input should be greater than 0",
        f"{folder / 'prod.yaml'}: train.epochs: Input should be greater than 0",
    ]


def test_an_override_pair_is_read_as_a_yaml_value():
    assert runconf.parse_override("train.epochs=2") == ("train.epochs", 2)
    assert runconf.parse_override(" train.note = [1, 2]") == ("train.note", [1, 2])
    assert runconf.parse_override('train.note="[1"') == ("train.note", "[1")


@pytest.mark.parametrize(
    ("pair", "said"),
    [
        ("train.epochs=[1", "expected ',' or ']', but got '<stream end>'"),
        ("train.epochs=*a", "found undefined alias 'a'"),
        (
            'train.epochs=!!python/object/apply:os.system ["true"]',
            "could not determine a constructor for the tag",
        ),
    ],
)
def test_an_override_that_is_not_plain_yaml_is_one_line_naming_the_pair(pair, said):
    with pytest.raises(ParamsError) as err:
        runconf.parse_override(pair)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"--set {pair!r}: the value is not plain YAML (")
    assert said in message and "quote it: --set 'train.epochs=" in message


@pytest.mark.parametrize("pair", ["train.epochs", "epochs=2", "=2", "train.=2"])
def test_an_override_without_section_key_equals_value_says_the_form(pair):
    with pytest.raises(ParamsError, match="expected section.key=value, e.g. train.epochs=2"):
        runconf.parse_override(pair)
