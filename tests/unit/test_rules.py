"""Rules that need no server: settings, file naming, item sizes, endpoint guard,
what of the engine the stack's other side may import."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from boto3.dynamodb.types import TypeSerializer

from inframock.aws.endpoint import EndpointRefused, check_endpoint_is_local
from inframock.data.dataset import (
    MAX_ITEM_BYTES,
    check_values,
    exact_number,
    parse_json,
    plan,
    significant_digits,
    table_kind,
)
from inframock.core.settings import (
    ENGINES,
    PROFILES,
    SETTINGS,
    Settings,
    SettingsError,
)
from inframock.core.settings_list import SECTIONS
from inframock.model.profiles import stack_for
from inframock.services.registry import SERVICES, services_for
from inframock.testing.harness import ROOT, base_env, cli
from inframock.engine.protocol import MINISTACK_RELEASE
from inframock.services.engines.ministack import COMPOSE

RULES = stack_for(Settings.load({}, env_file=Path("/nonexistent"))).data
"""The default (2021) profile's data folder rules."""


@pytest.mark.parametrize(
    "name, kind",
    [
        ("mock_experiment.json", "experiments"),
        ("mock_experiment-e52b.json", "experiments"),
        ("mock_samples.json", "samples"),
        ("mock_plots_tables.json", "plots-tables"),
        ("mock_plots_tables_2.json", "plots-tables"),
        ("mock_projects.json", "projects"),
        ("mock_projects-2021.json", "projects"),
        ("mock_cell_sets.json", None),
        ("processed-matrix.r.rds.gz", None),
        ("mock_experiment.json.bak", None),
        ("r.rds.gz", None),
    ],
)
def test_file_names_choose_the_table(name: str, kind: str | None) -> None:
    assert table_kind(name, RULES) == kind


def test_data_folder_page_table_shows_every_file_kind() -> None:
    page = (ROOT / "docs" / "data-folder.md").read_text(encoding="utf-8")
    section = page.split("# The data folder", 1)[1].split("\n\n**", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {row.split("`")[1] for row in rows}
    patterns = {pattern for pattern, _ in RULES.table_files}
    singles = {RULES.source_file, RULES.matrix_file, RULES.cell_sets_pattern}
    assert named == patterns | singles
    for row in rows:
        kind = table_kind(row.split("`")[1], RULES)
        if kind is not None:
            assert f"`{kind}-development`" in row


def item_size(record: dict[str, object]) -> int:
    """The size check_values finds for a record it takes."""
    problem, size = check_values(record)
    assert problem is None, problem
    return size


def test_item_size_follows_dynamodb_rules() -> None:
    # name bytes + value bytes; numbers: 1 byte per 2 significant digits + 1
    assert item_size({"id": "abc"}) == 2 + 3
    assert item_size({"n": Decimal("12345")}) == 1 + 4
    assert item_size({"b": True, "z": None}) == 2 + 2
    # lists and maps: 3 bytes + 1 per element + the elements
    assert item_size({"l": [Decimal(1), "ab"]}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"k": "v"}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"s": "é"}) == 1 + 2
    assert item_size({"m": {"l": [{"n": Decimal("-1.50")}]}}) == (
        1 + 3 + (1 + 1) + 3 + 1 + 3 + (1 + 1) + 2
    )
    assert MAX_ITEM_BYTES == 409_600


def test_values_are_checked_as_dynamodb_checks_them() -> None:
    assert check_values({"": "x"})[0] == "an attribute name is empty"
    assert check_values({"m": {"": "x"}})[0] == "an attribute name is empty"
    assert "38-digit range" in str(check_values({"n": Decimal("1" * 39)})[0])
    assert "cannot be stored" in str(check_values({"n": Decimal("NaN")})[0])
    deep: dict[str, object] = {"v": "x"}
    for _ in range(40):
        deep = {"m": deep}
    assert "nested deeper" in str(check_values(deep)[0])


def test_json_numbers_parse_as_exact_decimals() -> None:
    document = parse_json(b'{"a": 0.1, "b": 10, "c": 1e400}')
    assert document == {"a": Decimal("0.1"), "b": Decimal(10), "c": Decimal("1e400")}
    with pytest.raises(ValueError, match="Infinity is not a number"):
        parse_json(b'{"a": Infinity}')


def test_plan_skips_hidden_and_plain_files_and_sorts(tmp_path: Path) -> None:
    for name in ("b-exp", "a-exp", ".hidden"):
        (tmp_path / name).mkdir()
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "a-exp" / "mock_samples.json").write_text("{}")
    (tmp_path / "a-exp" / "r.rds.gz").write_bytes(b"")
    (tmp_path / "a-exp" / "extra.csv").write_text("")
    (tmp_path / "a-exp" / "mock_cell_sets.json").write_text("{}")
    (tmp_path / "a-exp" / "processed-matrix.r.rds.gz").write_bytes(b"")
    result = plan(tmp_path, RULES)
    assert [e.id for e in result.experiments] == ["a-exp", "b-exp"]
    first = result.experiments[0]
    assert [f.kind for f in first.table_files] == ["samples"]
    assert first.rds == tmp_path / "a-exp" / "r.rds.gz"
    assert first.cell_sets == tmp_path / "a-exp" / "mock_cell_sets.json"
    assert first.processed_matrix == tmp_path / "a-exp" / "processed-matrix.r.rds.gz"
    assert result.experiments[1].cell_sets is None
    assert first.ignored == ("extra.csv",)
    assert not result.problems


def test_a_data_path_that_is_a_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "not a folder" in str(plan(tmp_path / "file", RULES).problems[0])


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    defaults = Settings.load({}, env_file=tmp_path / "none")
    assert (defaults.bind, defaults.aws_port, defaults.redis_port) == (
        "127.0.0.1",
        4566,
        6379,
    )
    assert defaults.aws_endpoint == "http://127.0.0.1:4566"
    assert defaults.region == "eu-west-1" and not defaults.exposed
    (tmp_path / ".env").write_text("INFRAMOCK_AWS_PORT=5000\nSANDBOX_ID=mine\n")
    mixed = Settings.load({"SANDBOX_ID": "env"}, env_file=tmp_path / ".env")
    assert mixed.aws_port == 5000 and mixed.sandbox_id == "env"
    exposed = Settings.load({"INFRAMOCK_BIND": "0.0.0.0"}, env_file=tmp_path / "none")
    assert exposed.exposed and exposed.aws_endpoint == "http://127.0.0.1:4566"
    with pytest.raises(SettingsError, match="INFRAMOCK_REDIS_PORT"):
        Settings.load({"INFRAMOCK_REDIS_PORT": "lots"}, env_file=tmp_path / "none")


def test_env_example_lists_every_setting_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text()
    for setting in SETTINGS:
        assert f"{setting.name}={setting.default}" in text


def test_env_example_is_what_the_settings_render(tmp_path: Path) -> None:
    """`.env.example` is generated from inframock/core/settings_list.py: the checked-in
    file is exactly what `make env-example` writes."""
    written = tmp_path / "env.example"
    subprocess.run(
        [sys.executable, "-m", "inframock.core.settings_example", str(written)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == written.read_text(
        encoding="utf-8"
    ), "`.env.example` differs from the settings: run `make env-example`"


def test_stack_names_follow_sandbox_and_region(tmp_path: Path) -> None:
    settings = Settings.load(
        {"SANDBOX_ID": "pr42", "AWS_DEFAULT_REGION": "us-east-2"},
        env_file=tmp_path / "none",
    )
    stack = stack_for(settings)
    assert stack.topic_arn == (
        "arn:aws:sns:us-east-2:000000000000:work-results-development-pr42"
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.eu-west-1.amazonaws.com",
        "http://192.0.2.10:4566",
        "http://10.0.0.5:4566",
        "ftp://127.0.0.1",
    ],
)
def test_non_local_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(EndpointRefused):
        check_endpoint_is_local(endpoint, "")


def test_local_or_explicitly_allowed_endpoints_pass() -> None:
    check_endpoint_is_local("http://127.0.0.1:4566", "")
    check_endpoint_is_local("http://localhost:4566", "")
    check_endpoint_is_local("http://192.0.2.10:4566", "192.0.2.10:4566")
    with pytest.raises(EndpointRefused):
        check_endpoint_is_local("http://192.0.2.10:4566", "192.0.2.10:9999")


def test_seed_refuses_a_remote_endpoint_before_any_request(tmp_path: Path) -> None:
    env = base_env(tmp_path, INFRAMOCK_AWS_ENDPOINT="http://192.0.2.10:4566")
    result = cli(env, "seed", timeout=30)
    assert result.returncode == 1
    assert "refusing to write to http://192.0.2.10:4566" in result.stdout
    assert "INFRAMOCK_ALLOW_ENDPOINT=192.0.2.10:4566" in result.stdout


def test_number_digits_are_counted_without_rounding() -> None:
    nines = Decimal("9" * 60)
    assert significant_digits(nines) == 60
    assert significant_digits(Decimal("1E+60")) == 1
    assert significant_digits(Decimal("0.0100")) == 1
    assert item_size({"n": Decimal("9" * 38)}) == 1 + 20


def test_long_round_numbers_become_storable_without_changing_value() -> None:
    serialize = TypeSerializer().serialize
    for text in ("1" + "0" * 60, "-" + "9" * 38 + "0" * 5, "0." + "0" * 50):
        number = exact_number(text)
        assert number == Decimal(text)
        serialize(number)  # DynamoDB's 38-digit context takes it


def test_every_service_a_profile_runs_is_declared_once(tmp_path: Path) -> None:
    """Each name in a profile's `services` has its declaration, under its own
    name, and a port setting that exists (the roads iterate over them)."""
    for name in PROFILES:
        settings = Settings.load({"INFRAMOCK_PROFILE": name}, tmp_path / "none")
        declared = services_for(settings)
        assert [d.name for d in declared] == list(stack_for(settings).services)
        assert declared[0].name == "aws"  # status reads the resources from it
    assert all(name == d.name for name, d in SERVICES.items())
    settings_names = {
        setting.name for section in SECTIONS for setting in section.settings
    }
    for declared in SERVICES.values():
        if declared.port_field:
            assert declared.port_setting in settings_names, declared.name


def test_every_profile_setting_has_a_stack_definition(tmp_path: Path) -> None:
    """Each name of the one registry (core.settings.PROFILES) resolves to a
    stack of that profile; any other name is refused as the settings are read."""
    for name in PROFILES:
        settings = Settings.load({"INFRAMOCK_PROFILE": name}, tmp_path / "none")
        assert stack_for(settings).profile == name
    with pytest.raises(SettingsError, match="INFRAMOCK_PROFILE"):
        Settings.load({"INFRAMOCK_PROFILE": "2019"}, tmp_path / "none")
    with pytest.raises(SettingsError, match="INFRAMOCK_RELAY_DELAYS"):
        Settings.load({"INFRAMOCK_RELAY_DELAYS": "60,10"}, tmp_path / "none")


def test_every_engine_setting_names_a_module_that_starts_it(tmp_path: Path) -> None:
    """Each name of the engine registry (core.settings.ENGINES) is a module of
    inframock.services.engines with its `aws_service`; moto is the default;
    any other name is refused as the settings are read."""
    assert Settings.load({}, tmp_path / "none").engine == "moto"
    for name, module in ENGINES.items():
        assert (
            Settings.load({"INFRAMOCK_ENGINE": name}, tmp_path / "none").engine == name
        )
        assert callable(importlib.import_module(module).aws_service)
    with pytest.raises(SettingsError, match="INFRAMOCK_ENGINE='localstack'"):
        Settings.load({"INFRAMOCK_ENGINE": "localstack"}, tmp_path / "none")


ENGINE_IMPORTS_OUTSIDE = {
    ("inframock/cli/engine.py", "inframock.engine.patches"),
    ("inframock/cli/engine.py", "inframock.engine.patching"),
}
"""Engine modules imported outside inframock/engine/ besides its protocol:
`inframock engine patches` lists the engine's patches, in process."""


def _engine_imports(path: Path) -> list[str]:
    """The engine modules `path` imports (`from inframock.engine import x` as x)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "inframock.engine":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return [name for name in names if name.startswith("inframock.engine.")]


def test_outside_the_engine_only_its_protocol_is_imported() -> None:
    """Issue 20: the stack's side (supervisor, loader, banner, `make status`)
    knows the engine by inframock.engine.protocol alone, and starts it by
    module name; nothing else of the engine's (moto with it) is imported."""
    crossing = [
        (path.relative_to(ROOT).as_posix(), name)
        for path in (ROOT / "inframock").rglob("*.py")
        if not path.is_relative_to(ROOT / "inframock" / "engine")
        for name in _engine_imports(path)
        if name != "inframock.engine.protocol"
    ]
    assert set(crossing) <= ENGINE_IMPORTS_OUTSIDE, sorted(crossing)


def test_the_engine_protocol_imports_only_the_standard_library() -> None:
    """Reading the engine's record costs no import of moto or the engine."""
    script = (
        "import sys, inframock.engine.protocol; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('inframock', 'moto', 'boto3', 'botocore', 'werkzeug')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == str(
        ["inframock", "inframock.engine", "inframock.engine.protocol"]
    ), done.stdout


def test_one_ministack_release_everywhere() -> None:
    """The MiniStack the patches were checked against is the one pinned, and
    the image tag the Docker road runs (engine/protocol.py's MINISTACK_RELEASE)."""
    pins = (ROOT / "requirements-ministack.txt").read_text(encoding="utf-8")
    assert f"\nministack=={MINISTACK_RELEASE}\n" in pins
    assert (
        COMPOSE["INFRAMOCK_AWS_IMAGE"] == f"ministackorg/ministack:{MINISTACK_RELEASE}"
    )
