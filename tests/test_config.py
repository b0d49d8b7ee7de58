"""Settings from the environment: the embedded model's knobs and the JSON modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, half_the_cores
from app.llm.embedded import EmbeddedModelError, LocalModel


def test_defaults_serve_smollm2_on_four_slots_with_json_schema():
    s = Settings.from_env({})
    assert s.uses_embedded_model and s.local_model is None
    assert (s.local_model_threads, s.local_model_slots, s.local_model_context) == (half_the_cores(), 4, 2048)
    assert s.json_mode == "json_schema"


def test_local_model_knobs():
    s = Settings.from_env(
        {
            "COPYDESK_LOCAL_MODEL": "/models/qwen2.5-7b-instruct-q4_k_m.gguf",
            "COPYDESK_LOCAL_MODEL_THREADS": "8",
            "COPYDESK_LOCAL_MODEL_SLOTS": "2",
            "COPYDESK_LOCAL_MODEL_CONTEXT": "4096",
        }
    )
    assert s.local_model == Path("/models/qwen2.5-7b-instruct-q4_k_m.gguf")
    assert (s.local_model_threads, s.local_model_slots, s.local_model_context) == (8, 2, 4096)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COPYDESK_LOCAL_MODEL_SLOTS": "0"}, "COPYDESK_LOCAL_MODEL_SLOTS must be at least 1"),
        ({"COPYDESK_LOCAL_MODEL_THREADS": "two"}, "COPYDESK_LOCAL_MODEL_THREADS must be a number"),
        ({"COPYDESK_LLM_JSON_MODE": "llama_cpp"}, "COPYDESK_LLM_JSON_MODE must be one of json_schema"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("name", "alias", "quant"),
    [
        ("qwen2.5-7b-instruct-q4_k_m.gguf", "qwen2.5-7b-instruct-q4_k_m", "Q4_K_M"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m-instruct.q4_1", "Q4_1"),
        ("Meta-Llama-3.1-8B-Instruct-IQ3_XXS.gguf", "meta-llama-3.1-8b-instruct-iq3_xxs", "IQ3_XXS"),
        ("phi-3-mini-4k-instruct-fp16.gguf", "phi-3-mini-4k-instruct-fp16", "unknown"),
        ("gemma-2-2b-it-BF16.gguf", "gemma-2-2b-it-bf16", "BF16"),
    ],
)
def test_a_users_gguf_is_named_by_file_and_quantisation(tmp_path, name, alias, quant):
    (tmp_path / name).write_bytes(b"GGUF")
    model = LocalModel.resolve(tmp_path / name)
    assert (model.alias, model.quantisation) == (alias, quant)
    assert model.label.startswith(f"{name} ({quant}")


def test_a_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddedModelError, match="COPYDESK_LOCAL_MODEL: no file at"):
        LocalModel.resolve(tmp_path / "nope.gguf")
