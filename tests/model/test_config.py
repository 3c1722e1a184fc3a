import json

import pytest
from click.testing import CliRunner

from edge_albert.cli import main
from edge_albert.errors import InputError
from edge_albert.model.config import PRESETS, preset_config


def test_a_shape_file_sets_fields_over_tiny(tmp_path):
    shape = tmp_path / "tiny-4-groups.json"
    shape.write_text(json.dumps({"num_hidden_groups": 4, "vocab_size": 99, "architectures": ["AlbertModel"]}))
    config = preset_config(str(shape), vocab_size=500)
    assert config.num_hidden_groups == 4 and config.vocab_size == 500  # vocabulary and names are not shape
    assert {k: getattr(config, k) for k in PRESETS["tiny"]} == PRESETS["tiny"]


@pytest.mark.parametrize("content, message", [
    ("[1, 2]", "a shape file is a JSON object"),
    ('{"labels": 3}', "no shape fields in it"),
    ('{"num_hidden_groups": 3}', "num_hidden_layers 4 is not a multiple of num_hidden_groups 3"),
])
def test_bad_shape_files_are_one_line(tmp_path, content, message):
    shape = tmp_path / "shape.json"
    shape.write_text(content)
    with pytest.raises(InputError, match=message):
        preset_config(str(shape))


def test_cli_takes_a_preset_or_a_shape_file(tmp_path, spiece_model):
    runner = CliRunner()
    shape = tmp_path / "shape.json"
    shape.write_text('{"num_hidden_groups": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128}')
    out = tmp_path / "ckpt"
    result = runner.invoke(main, ["init", "--preset", str(shape), "--tokenizer", str(spiece_model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_groups"], config["hidden_size"]) == (2, 64)
    bad = runner.invoke(main, ["init", "--preset", "huge", "--tokenizer", str(spiece_model), "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "'huge' is not one of tiny, small, base, large or a .json shape file" in bad.output
    missing = runner.invoke(main, ["init", "--preset", str(tmp_path / "none.json"), "--tokenizer", str(spiece_model), "-o", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "shape file not found" in missing.output
    assert not (tmp_path / "x").exists()
