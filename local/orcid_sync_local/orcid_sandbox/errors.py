"""ORCID-shaped error bodies (wording from ORCID's api_en.properties) and OAuth error bodies."""

from __future__ import annotations

from string import Template
from typing import Any

ORCID_JSON = "application/vnd.orcid+json"
OAUTH_JSON = "application/json;charset=UTF-8"
MORE_INFO = "https://members.orcid.org/api/resources/troubleshooting"

_UPDATE_FAILED = (
    "There was an error when updating the record. Please try again. "
    "If the error persists, please contact ${clientName} for assistance."
)

# error-code -> (HTTP status, developer-message template, user-message template)
_CATALOG: dict[int, tuple[int, str, str]] = {
    9001: (
        400,
        "400 Bad Request: There is an issue with your data or the API endpoint. "
        "405 Method Not Allowed: Endpoint and method mismatch. "
        "415 Unsupported Media Type: data must be in XML or JSON format.",
        "ORCID could not process the data, because they were invalid.",
    ),
    9006: (
        400,
        "The client application sent a bad request to ORCID.",
        "The client application sent a bad request to ORCID.",
    ),
    9008: (500, "Something went wrong in ORCID.", "Something went wrong in ORCID."),
    9010: (
        403,
        "403 Forbidden: You are not the source of the ${activity}, so you are not allowed to update it.",
        "The client application is not the source of the resource it is trying to access.",
    ),
    9013: (
        403,
        "403 Forbidden: The item is private and you are not the source.",
        "The client application is forbidden to perform the action.",
    ),
    9016: (404, "404 Not Found: The resource was not found.", "The resource was not found."),
    9017: (
        401,
        "401 Unauthorized: The client application is not authorized for this ORCID record.",
        "The client application is not authorized.",
    ),
    9019: (
        400,
        "400 Bad Request: The put code in the URL was ${urlPutCode} whereas the one in the body was ${bodyPutCode}.",
        _UPDATE_FAILED,
    ),
    9020: (400, "400 Bad Request: Invalid incoming message.", "Invalid incoming message."),
    9021: (
        409,
        "409 Conflict: You have already added this activity (matched by external identifiers), "
        "please see element with put-code ${putCode}. "
        "If you are trying to edit the item, please use PUT instead of POST.",
        _UPDATE_FAILED,
    ),
    9022: (400, "400 Bad Request: Invalid activity, a title is required.", "Invalid activity:  A title is required."),
    9023: (
        400,
        "400 Bad Request: Invalid activity, an external identifier is required.",
        "Invalid activity: an external identifier is required.",
    ),
    9024: (
        400,
        "400 Bad Request: Put-code is included when not expected. "
        "When posting new activities, the put code should be omitted.",
        _UPDATE_FAILED,
    ),
    9030: (
        409,
        "The element '${value}' of type '${type}' is duplicated.",
        "The element '${value}' of type '${type}' is duplicated.",
    ),
    9035: (
        403,
        "403 Forbidden: You can't change the visibility of an item, "
        "please remove the visibility or set it to the current value.",
        _UPDATE_FAILED,
    ),
    9037: (400, "Invalid ${type}, valid values are: ${values}.", "Please specify a work type."),
    9038: (
        403,
        "409 Conflict: The item has a limited or private visibility and your request doesn't have the required scope.",
        "You don't have the permissions to execute this action.",
    ),
    9045: (
        400,
        "400 Bad request: disambiguated-organization must be present and valid",
        "No valid disambiguated-organization is included in the data.",
    ),
    9046: (
        400,
        "400 Bad request: organization must be present and valid",
        "No valid organization is included in the data.",
    ),
    9047: (400, "400 Bad request: invalid JSON - ${error}", "Invalid JSON."),
    9048: (
        409,
        "409 Conflict: The maximum number of works that can be connected to an ORCID record is 10,000",
        "The maximum number of works that can be connected to an ORCID record is 10,000 and you have now exceeded "
        "this limit. Please remove some works and try again. "
        "For more information, see https://support.orcid.org/hc/articles/360006973133",
    ),
    9049: (400, "400 Bad request: invalid date: ${dateString} ", "Invalid date"),
    9050: (
        400,
        "400 Bad request: missing start-date. If you specify an end-date, you must specify a start-date",
        "Missing start-date. If you specify an end-date, you must specify a start-date",
    ),
    9055: (
        400,
        "400 Bad Request: End date must come after start date.",
        "End date must come after start date.",
    ),
    9058: (
        400,
        "404 Bad Request: Invalid contributor role: ${role}. Expected one of ${validRoles}. ",
        "Invalid contributor role.",
    ),
    9060: (
        400,
        "400 Bad request: organization address must be present and valid (city and country are required)",
        "The organization address is invalid.",
    ),
}


class OrcidApiError(Exception):
    """An error the Member API answers with an ORCID error body."""

    def __init__(self, status: int, error_code: int, developer_message: str, user_message: str) -> None:
        super().__init__(developer_message)
        self.status = status
        self.error_code = error_code
        self.developer_message = developer_message
        self.user_message = user_message

    def body(self) -> dict[str, Any]:
        """The JSON error body exactly as ORCID shapes it."""
        return {
            "response-code": self.status,
            "developer-message": self.developer_message,
            "user-message": self.user_message,
            "error-code": self.error_code,
            "more-info": MORE_INFO,
        }


def orcid_error(
    error_code: int, *, detail: str | None = None, status: int | None = None, **params: object
) -> OrcidApiError:
    """Build the ORCID error for `error_code`, filling its message placeholders from `params`."""
    default_status, developer_template, user_template = _CATALOG[error_code]
    values = {key: str(value) for key, value in params.items()}
    developer_message = Template(developer_template).safe_substitute(values)
    if detail:
        # ORCID appends the underlying cause this way (OrcidCoreExceptionMapper.getDeveloperMessage).
        developer_message = f"{developer_message} Full validation error: {detail}"
    user_message = Template(user_template).safe_substitute(values)
    return OrcidApiError(status or default_status, error_code, developer_message, user_message)


class OAuthError(Exception):
    """An OAuth error answered as `{"error", "error_description"}` JSON."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "error_description": self.description}


def invalid_token(token: str) -> OAuthError:
    """The 401 ORCID answers for unknown, revoked or expired access tokens (it echoes the token)."""
    return OAuthError(401, "invalid_token", f"Invalid access token: {token}")
