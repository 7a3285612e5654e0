"""A local stand-in for Amazon Cognito's managed login (the user pool domain), as the ORCID sandbox stands in for ORCID.

``create_app`` serves ``/oauth2/authorize``, the sign-in and new-password forms, ``/oauth2/token``, ``/logout`` and
the pool's ``/.well-known/jwks.json``, authenticating against the user pool in moto, so the people ``orcid-sync
console add-admin`` creates there are the people who sign in, and the tokens are moto's.
"""

from .app import CognitoLoginApp, create_app, start_cognito_login

__all__ = ["CognitoLoginApp", "create_app", "start_cognito_login"]
