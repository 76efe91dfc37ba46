"""Config files: three formats, one model; mistakes are named by key, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from mockserver import MockSettings, create_app
from mockserver.cli import main
from mockserver.spec.config_file import ConfigFileError, load_spec
from tests.conftest import KEY, chat_body

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "configs"


def test_toml_yaml_and_json_examples_are_the_same_spec() -> None:
    toml, yaml, json_ = (load_spec(EXAMPLES / f"experiments.{ext}") for ext in ("toml", "yaml", "json"))
    assert toml == yaml == json_
    assert [c.weight for c in toml.projects[0].experiments[0].configs] == [3, 1, 1]


def test_served_spec_samples_only_active_configs_and_renders_templates() -> None:
    spec = load_spec(EXAMPLES / "experiments.toml")
    with TestClient(create_app(MockSettings(spec=spec))) as client:
        seen = set()
        for n in range(40):
            reply = client.post("/v4/chat-experiment", headers=KEY, json=chat_body(
                experiment_id="exp_tone", inputs={"product": "Widgets"},
                messages=[{"role": "user", "content": f"help {n}"}])).json()
            sample = reply["data"][0]
            seen.add(sample["model_config_id"])
            assert "Widgets" in sample["messages"][0]["content"]
            if sample["model_config_id"] == "config_formal":
                assert "\n" not in sample["output"]
        assert seen == {"config_friendly", "config_formal"}
        assert reply["project_id"] == "pr_support"


@pytest.mark.parametrize(("text", "expected"), [
    ("[[projects]]\nname = 'p'\nwieght = 2\n", "projects[0].wieght: unknown key"),
    ("[[projects]]\nname = 'p'\n[[projects.experiments]]\nname = 'e'\n[[projects.experiments.configs]]\n"
     "weight = -1\n", "projects[0].experiments[0].configs[0].weight: Input should be greater than 0"),
    ("[[projects]]\nname = 3\n", "projects[0].name: Input should be a valid string"),
    ("[[projects]]\nname = 'p'\n[[projects.experiments]]\nname = 'a'\nid = 'exp_1'\n"
     "[[projects.experiments]]\nname = 'b'\nid = 'exp_1'\n", "experiment id 'exp_1' is also used"),
    ("projects = [", "cannot parse"),
    ("speed = 1\n", "speed: unknown key"),
    ("[[projects]]\nname = 'p'\n[[projects.experiments]]\nnmae = 'e'\n",
     "projects[0].experiments[0].nmae: unknown key (did you mean 'name'?)"),
    ("[[scripts]]\nmessage = 'hi'\nanswer = {output = 'x'}\n",
     "scripts[0].message: unknown key (did you mean 'match.message'?)"),
])
def test_bad_config_names_the_offending_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as raised:
        load_spec(path)
    assert expected in str(raised.value)
    result = CliRunner().invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 1
    assert expected in result.output and "Traceback" not in result.output


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "spec.ini").write_text("x")
    with pytest.raises(ConfigFileError, match="unknown config format"):
        load_spec(tmp_path / "spec.ini")
    with pytest.raises(ConfigFileError, match="no such file"):
        load_spec(tmp_path / "absent.yaml")


def test_check_config_lists_what_the_file_declares() -> None:
    result = CliRunner().invoke(main, ["check-config", str(EXAMPLES / "experiments.yaml")])
    assert result.exit_code == 0, result.output
    assert "config_friendly: gpt-4o, weight 3 (60%)" in result.output
    assert "config_tools: gpt-4o, weight 1 (20%), inactive" in result.output


def test_adaptive_example_declares_sampling_and_timing() -> None:
    spec = load_spec(EXAMPLES / "adaptive.yaml")
    experiment = spec.projects[0].experiments[0]
    assert experiment.sampling == "adaptive" and [label.type for label in experiment.positive_labels] == [
        "rating", "action"]
    large = experiment.configs[0].timing
    assert large is not None and large.first_event is not None and large.first_event.median == 0.8
    result = CliRunner().invoke(main, ["check-config", str(EXAMPLES / "adaptive.yaml")])
    assert result.exit_code == 0, result.output
    assert "exp_learn, adaptive sampling" in result.output
    assert "config_large: gpt-4o, drawn by feedback, timed" in result.output
