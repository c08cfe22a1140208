"""The environment's SMTP settings (``LEADRELAY_SMTP_*``) pick the port by security as the configuration's
``smtp`` section does."""

from __future__ import annotations

import pytest

from leadrelay.adapters.channels.configured import env_smtp
from leadrelay.config import Settings
from leadrelay.configuration.schema import SmtpModel


@pytest.mark.parametrize(("security", "port"), [("tls", 465), ("starttls", 587), ("none", 25)])
def test_the_environment_picks_the_port_by_security_like_the_configuration(security: str, port: int) -> None:
    """Without a port, ``tls`` is 465 and ``starttls`` 587 (not the plain port 25) either way."""
    configured = SmtpModel.model_validate({"host": "smtp.example.com", "security": security}).to_spec()
    assert configured.port == port
    from_env = env_smtp(Settings(_env_file=None, smtp_host="smtp.example.com", smtp_security=security))
    assert from_env.port == port


def test_a_port_set_in_the_environment_is_kept() -> None:
    settings = Settings(_env_file=None, smtp_host="smtp.example.com", smtp_security="tls", smtp_port=2465)
    assert env_smtp(settings).port == 2465
