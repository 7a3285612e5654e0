"""ORCID-shaped answers for client tests, as documented in docs/orcid-api.md (shapes and messages).

Error bodies follow ORCID's ``OrcidError`` JSON (§2.4); OAuth errors the ``{"error",
"error_description"}`` shape (§1.5); the 503 past the burst is a proxy page (§5).
"""

from __future__ import annotations

import json
from typing import Any

ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0001-2345-6789"
API = "https://api.sandbox.orcid.org"
SITE = "https://sandbox.orcid.org"
CLIENT_ID = "APP-OQYKBIN9CXD9U3SH"
CLIENT_SECRET = "c1a7b9e2-55aa-4c3e-9b8d-client-secret"
ACCESS_TOKEN = "f5af9f51-07e6-4332-8f1a-c0c11c1e3728"
REFRESH_TOKEN = "f725f747-3a65-49f6-a231-3e8944ce464d"
MORE_INFO = "https://members.orcid.org/api/resources/troubleshooting"
USER_MESSAGE = (
    "There was an error when updating the record. Please try again. If the error persists, "
    "please contact Demo Org Sandbox for assistance."
)


def orcid_error(status: int, code: int, developer_message: str) -> dict[str, Any]:
    """An ORCID error body (``OrcidError`` JSON)."""
    return {
        "response-code": status,
        "developer-message": developer_message,
        "user-message": USER_MESSAGE,
        "error-code": code,
        "more-info": MORE_INFO,
    }


DUPLICATE_WORK_MESSAGE = (
    "409 Conflict: You have already added this activity (matched by external identifiers), please see "
    "element with put-code 123456. If you are trying to edit the item, please use PUT instead of POST."
)

# (status, error-code, developer message) per ORCID's exception mapper and api_en.properties.
ERRORS: dict[str, tuple[int, int, str]] = {
    "json_parse": (400, 9001, '400 Bad Request: Invalid incoming message. Unrecognized field "titel"'),
    "too_many_in_bulk": (400, 9006, "400 Bad Request: You are allowed to add up to 100 elements per request."),
    "put_code_mismatch": (400, 9019, "400 Bad Request: The put code in the URL does not match the put code in body"),
    "invalid_message": (400, 9020, "400 Bad Request: Invalid publication date. Full validation error: month"),
    "title_required": (400, 9022, "400 Bad Request: Title is required"),
    "external_id_invalid": (
        400,
        9023,
        "400 Bad Request: At least one identifier with 'self' relationship is required",
    ),
    "put_code_on_create": (400, 9024, "400 Bad Request: Put-code must not be present when creating an item"),
    "invalid_enum": (400, 9037, "400 Bad Request: Invalid work type, valid values are: book, journal-article, …"),
    "invalid_org": (400, 9045, "400 Bad Request: Invalid disambiguated organization"),
    "wrong_record": (401, 9017, "401 Unauthorized: Access token is for a different record"),
    "not_source": (
        403,
        9010,
        "403 Forbidden: You are not the source of the work, so you are not allowed to update it.",
    ),
    "visibility_change": (403, 9035, "403 Forbidden: You cannot change the visibility of an existing item."),
    # ORCID's message says 409 although the status is 403 (docs/orcid-api.md §1.5).
    "insufficient_scope": (403, 9038, "409 Conflict: Insufficient or wrong scope [/activities/update]"),
    "not_found": (404, 9016, "404 Not Found: The work with put-code 999 was not found."),
    "duplicate_work": (409, 9021, DUPLICATE_WORK_MESSAGE),
    "locked_record": (409, 9018, "409 Conflict: The ORCID record is locked and cannot be edited."),
    "duplicate_researcher_url": (
        409,
        9030,
        "409 Conflict: The element 'https://repo.example/people/123' of type 'researcher-url' is duplicated.",
    ),
    "too_many_works": (409, 9048, "409 Conflict: This record has reached the limit of 10000 works."),
    "deprecated_record": (301, 9007, "301 Moved Permanently: This account is deprecated. Please refer to account"),
    "internal_error": (500, 9008, "500 Internal Server Error: Unexpected error"),
}


def error_body(name: str) -> str:
    """The JSON text of a named ORCID error."""
    status, code, message = ERRORS[name]
    return json.dumps(orcid_error(status, code, message))


def invalid_token_body(token: str) -> str:
    """ORCID's 401 for a revoked, expired or unknown token: it echoes the token."""
    return json.dumps({"error": "invalid_token", "error_description": f"Invalid access token: {token}"})


INVALID_GRANT_BODY = json.dumps({"error": "invalid_grant", "error_description": "Invalid authorization code: Ab12Cd"})
BAD_CLIENT_CREDENTIALS_BODY = json.dumps({"error": "invalid_client", "error_description": "Bad client credentials"})

SERVICE_UNAVAILABLE_HTML = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>"
)
TOO_MANY_REQUESTS_TEXT = (
    "Too Many Requests. You have exceeded the daily quota for anonymous usage of this API. "
    "You can increase your daily quota by registering for and using Public API client credentials."
)

TOKEN_RESPONSE: dict[str, Any] = {
    "access_token": ACCESS_TOKEN,
    "token_type": "bearer",
    "refresh_token": REFRESH_TOKEN,
    "expires_in": 631138518,
    "scope": "/read-limited /activities/update /person/update",
    "name": "Josiah Carberry",
    "orcid": ORCID,
}

WORK: dict[str, Any] = {
    "title": {"title": {"value": "Psychoceramics of the cracked pot"}},
    "type": "journal-article",
    "external-ids": {
        "external-id": [
            {
                "external-id-type": "doi",
                "external-id-value": "10.5555/12345678",
                "external-id-url": {"value": "https://doi.org/10.5555/12345678"},
                "external-id-relationship": "self",
            },
            {
                "external-id-type": "source-work-id",
                "external-id-value": "asset-42",
                "external-id-relationship": "self",
            },
        ]
    },
}


def saved_work(put_code: int, title: str = "Psychoceramics of the cracked pot") -> dict[str, Any]:
    """A work as ORCID returns it after saving: put-code, source, dates, path, visibility."""
    work = json.loads(json.dumps(WORK))
    work["title"]["title"]["value"] = title
    work["external-ids"]["external-id"][0]["external-id-normalized"] = {"value": "10.5555/12345678", "transient": True}
    return {
        "created-date": {"value": 1717171717000},
        "last-modified-date": {"value": 1717171717000},
        "source": {
            "source-orcid": None,
            "source-client-id": {
                "uri": f"https://sandbox.orcid.org/client/{CLIENT_ID}",
                "path": CLIENT_ID,
                "host": "sandbox.orcid.org",
            },
            "source-name": {"value": "Demo Org Sandbox"},
            "assertion-origin-orcid": None,
            "assertion-origin-client-id": None,
            "assertion-origin-name": None,
        },
        "put-code": put_code,
        "path": f"/{ORCID}/work/{put_code}",
        "visibility": "public",
        **work,
    }


def bulk_answer(*items: dict[str, Any]) -> str:
    """A bulk body: each item already wrapped as ``{"work": …}`` or ``{"error": …}``."""
    return json.dumps({"bulk": list(items)})


WORKS_SUMMARY: dict[str, Any] = {
    "last-modified-date": {"value": 1559917017189},
    "group": [
        {
            "last-modified-date": {"value": 1559917017189},
            "external-ids": {
                "external-id": [
                    {
                        "external-id-type": "doi",
                        "external-id-value": "10.1087/20120404",
                        "external-id-normalized": {"value": "10.1087/20120404", "transient": True},
                        "external-id-normalized-error": None,
                        "external-id-url": {"value": "https://doi.org/10.1087/20120404"},
                        "external-id-relationship": "self",
                    }
                ]
            },
            "work-summary": [
                {
                    "put-code": 178602,
                    "created-date": {"value": 1559917017189},
                    "last-modified-date": {"value": 1559917017189},
                    "source": {
                        "source-orcid": None,
                        "source-client-id": {
                            "uri": "https://sandbox.orcid.org/client/APP-OQYKBIN9CXD9U3SH",
                            "path": "APP-OQYKBIN9CXD9U3SH",
                            "host": "sandbox.orcid.org",
                        },
                        "source-name": {"value": "Demo Org Sandbox "},
                        "assertion-origin-orcid": None,
                        "assertion-origin-client-id": None,
                        "assertion-origin-name": None,
                    },
                    "title": {"title": {"value": "ORCID: a system to uniquely identify researchers"}, "subtitle": None},
                    "external-ids": {
                        "external-id": [
                            {
                                "external-id-type": "doi",
                                "external-id-value": "10.1087/20120404",
                                "external-id-normalized": {"value": "10.1087/20120404", "transient": True},
                                "external-id-normalized-error": None,
                                "external-id-url": {"value": "https://doi.org/10.1087/20120404"},
                                "external-id-relationship": "self",
                            }
                        ]
                    },
                    "url": {"value": "https://doi.org/10.1087/20120404"},
                    "type": "journal-article",
                    "publication-date": {"year": {"value": "2012"}, "month": {"value": "10"}, "day": {"value": "01"}},
                    "journal-title": {"value": "Learned Publishing"},
                    "visibility": "public",
                    "path": f"/{ORCID}/work/178602",
                    "display-index": "0",
                }
            ],
        }
    ],
    "path": f"/{ORCID}/works",
}

RESEARCHER_URL: dict[str, Any] = {
    "url-name": "Institutional repository profile",
    "url": {"value": "https://repo.example/people/123"},
}

RESEARCHER_URLS: dict[str, Any] = {
    "last-modified-date": {"value": 1717171717000},
    "researcher-url": [
        {
            "put-code": 41387,
            "visibility": "public",
            "path": f"/{ORCID}/researcher-urls/41387",
            "display-index": 2,
            **RESEARCHER_URL,
        }
    ],
    "path": f"/{ORCID}/researcher-urls",
}

EMPLOYMENT: dict[str, Any] = {
    "department-name": "School of Psychoceramics",
    "role-title": "Professor",
    "start-date": {"year": {"value": "2021"}, "month": {"value": "01"}, "day": {"value": "01"}},
    "organization": {
        "name": "Boston University",
        "address": {"city": "Boston", "region": "Massachusetts", "country": "US"},
        "disambiguated-organization": {
            "disambiguated-organization-identifier": "https://ror.org/05qwgg493",
            "disambiguation-source": "ROR",
        },
    },
}

EMPLOYMENTS: dict[str, Any] = {
    "last-modified-date": {"value": 1717171717000},
    "affiliation-group": [
        {
            "last-modified-date": {"value": 1717171717000},
            "external-ids": {"external-id": []},
            "summaries": [
                {"employment-summary": {"put-code": 7001, "path": f"/{ORCID}/employment/7001", **EMPLOYMENT}}
            ],
        }
    ],
    "path": f"/{ORCID}/employments",
}

RECORD: dict[str, Any] = {
    "orcid-identifier": {"uri": f"https://sandbox.orcid.org/{ORCID}", "path": ORCID, "host": "sandbox.orcid.org"},
    "preferences": {"locale": "en"},
    "history": {"creation-method": "MEMBER_REFERRED", "claimed": True},
    "person": {"name": {"given-names": {"value": "Josiah"}, "family-name": {"value": "Carberry"}}},
    "activities-summary": {"works": WORKS_SUMMARY},
    "path": f"/{ORCID}",
}
