"""Named recipes and the options that adjust them (the CLI and Python take the same path)."""

from __future__ import annotations

import pytest

from edge_albert.errors import InputError
from edge_albert.quantization.configs import RECIPES, DynamicInt8Config, StaticInt8Config, recipe


def test_method_names_and_recipe_names_give_the_same_config():
    assert recipe("dynamic") == recipe("dynamic_wi8_afp32") == DynamicInt8Config()
    assert recipe("static") == RECIPES["static_wi8_ai8"]


def test_samples_and_keep_float_adjust_the_recipe_and_keep_its_name():
    config = recipe("static", samples=16, keep_float=["attention", "ffn"])
    assert isinstance(config, StaticInt8Config)
    assert (config.samples, config.keep_float) == (16, ("attention", "ffn"))
    # dynamic int8 has no calibration: the sample count does not apply
    assert recipe("dynamic", samples=16) == DynamicInt8Config()


def test_keep_float_on_a_recipe_without_op_groups_is_refused():
    with pytest.raises(InputError, match="int8 recipes, not weight_only_wf16"):
        recipe("fp16", keep_float=["attention"])


def test_an_unknown_recipe_names_the_choices():
    with pytest.raises(InputError, match="choose one of dynamic, static, fp16, int4, dynamic_wi8_afp32"):
        recipe("int3")


def test_keep_int8_adjusts_only_the_4bit_recipes():
    from edge_albert.quantization.configs import Int4Config, recipe_name

    config = recipe("int4", keep_int8=["ffn"], block_size=64)
    assert isinstance(config, Int4Config) and config.keep_int8 == ("ffn",) and config.block_size == 64
    assert recipe_name(config) == "weight_only_wi4b64_afp32"  # the groups kept at 8 bits are reported apart
    with pytest.raises(InputError, match="4-bit recipes, not dynamic_wi8_afp32"):
        recipe("dynamic", keep_int8=["ffn"])
    with pytest.raises(InputError, match="unknown op group ffm; choose from embeddings, "):
        recipe("int4", keep_int8=["ffm"])


def test_per_channel_4bit_has_its_own_recipe_name():
    from edge_albert.quantization.configs import PER_CHANNEL, RECIPES, recipe_name

    config = recipe("int4", block_size=PER_CHANNEL)
    assert config == RECIPES["weight_only_wi4c_afp32"] and recipe_name(config) == "weight_only_wi4c_afp32"
    assert recipe_name(recipe("int4", block_size=PER_CHANNEL, embedding_bits=4)) == "weight_only_wi4c_e4_afp32"
