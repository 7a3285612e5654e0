"""The researcher pages' branding settings: https only, a contact, an accent colour readable on the white page."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orcid_sync.domain.institution_settings import IntegrationSettings, contrast_ratio


def test_contrast_is_wcags() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the lightest grey that passes


def test_valid_branding_is_kept_and_the_colour_normalised() -> None:
    settings = IntegrationSettings(
        logo_url="https://cdn.example.edu/logo.svg", support_contact="orcid@example.edu", accent_color="#0B5CAD"
    )
    assert settings.accent_color == "#0b5cad"
    assert settings.support_href == "mailto:orcid@example.edu"
    assert IntegrationSettings(support_contact="https://example.edu/help").support_href == "https://example.edu/help"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("accent_color", "#a6ce39", "contrast ratio of 1.82:1"),
        ("accent_color", "#777777", "4.48:1"),
        ("accent_color", "blue", "#rrggbb"),
        ("logo_url", "http://cdn.example.edu/logo.svg", "https://"),
        ("logo_url", "javascript:alert(1)", "https://"),
        ("support_contact", "call us", "email address or an https:// URL"),
        ("support_contact", "http://example.edu/help", "email address or an https:// URL"),
    ],
)
def test_bad_branding_is_refused_naming_the_field_and_why(field: str, value: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        IntegrationSettings.model_validate({field: value})
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert words in error["msg"]


def test_branding_never_changes_what_the_push_compares() -> None:
    plain = IntegrationSettings(institution_name="Carberry University")
    branded = plain.model_copy(update={"accent_color": "#7a1f5c", "logo_url": "https://cdn.example.edu/l.svg"})
    assert branded.fingerprint == plain.fingerprint
