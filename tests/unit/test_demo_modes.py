"""`make demo`'s two modes: offline by default, the real OpenAI API when a key is given."""

import pytest

from devstack import demo, seed
from shared.adapters.secrets import SecretStore
from shared.errors import NotFound


@pytest.mark.parametrize("env", [{}, {"OPENAI_API_KEY": ""}, {"OPENAI_API_KEY": "  \n"}])
def test_without_a_key_the_demo_stays_offline(env):
    assert demo.llm_mode(env) == (None, None)


def test_with_a_key_the_demo_uses_the_real_api_and_that_key():
    assert demo.llm_mode({"OPENAI_API_KEY": " sk-demo-123\n"}) == (
        "https://api.openai.com/v1",
        "sk-demo-123",
    )


@pytest.mark.stack
def test_the_functions_talk_to_the_fake_unless_the_stack_is_told_otherwise(local):
    assert local.env()["OPENAI_BASE_URL"] == f"{local.fake_url('openai')}/v1"
    base_url, _ = demo.llm_mode({"OPENAI_API_KEY": "sk-demo-123"})
    local.openai_base_url = base_url
    try:
        assert local.env()["OPENAI_BASE_URL"] == "https://api.openai.com/v1"
    finally:
        local.openai_base_url = None


@pytest.mark.stack
def test_no_key_stores_nothing_and_a_key_is_stored_where_the_functions_read_it(local):
    secrets = SecretStore(local.project, local.secrets.address)
    secret_id = seed.settings_for(local).openai_api_key_id

    assert "offline drafter" in demo.configure_llm(local, None)
    with pytest.raises(NotFound):
        secrets.read(secret_id)

    assert secret_id in demo.configure_llm(local, "sk-demo-123")
    assert secrets.read(secret_id) == "sk-demo-123"
