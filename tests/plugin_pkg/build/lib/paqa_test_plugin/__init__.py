"""Test plug-ins for paqa-build (see pyproject.toml)."""
