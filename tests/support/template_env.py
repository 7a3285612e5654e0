"""The functions' environment as template.yaml defines it (see ``orcid_sync_local.function_env``).

Tests never write a variable the template defines: they take it from here. ``tests/conftest.py`` applies
``powertools_environment()`` before any test module imports the product.
"""

from orcid_sync_local.function_env import POWERTOOLS_PREFIX, TEMPLATE, function_environment, powertools_environment

__all__ = ["POWERTOOLS_PREFIX", "TEMPLATE", "function_environment", "powertools_environment"]
