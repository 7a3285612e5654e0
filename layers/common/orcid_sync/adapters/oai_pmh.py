"""OAI-PMH over HTTP: pyoai's client (the ``oaipmh`` package) with our transport, retries and a hardened parser.

Why not ``Client.listRecords`` as it is: it returns a generator that follows the resumption tokens by itself and never
shows them, while a harvest must fetch **one page per call** and keep the token (to resume after a crash or a Lambda
timeout). So ``list_records`` uses the client's lower-level pieces: ``makeRequestErrorHandling`` (one request, parsed,
OAI-PMH ``<error>`` codes raised as ``oaipmh.error`` exceptions) and ``buildHeader`` for each record; ``describe`` uses
the client's ``identify``, ``listMetadataFormats`` and ``listSets`` as they are.

What we replace, through the client's own extension points:

- ``makeRequest`` (abstract in ``BaseClient``): pyoai's ``Client`` uses urllib without a timeout and sleeps inside
  with ``time.sleep``. Ours is one ``requests`` GET with a connect and read timeout, retried by tenacity: ``503``
  (and ``429``) honour ``Retry-After`` (seconds or an HTTP date, capped at ``max_retry_after``), network errors and
  ``500``/``502``/``504`` back off exponentially; the sleep is injectable for tests. Still failing after the
  attempts, or when the next wait would take the call's sleeping past ``retry_budget`` (a harvest runs in a Lambda
  with minutes, not hours, to go): :class:`OaiEndpointError`.
- ``parse``: lxml with no DTD loading, no entity resolution, no network and no huge trees; a document that declares a
  DOCTYPE is refused, as is one whose root is not ``OAI-PMH``.

Errors: ``badResumptionToken`` → :class:`BadResumptionTokenError`; ``noRecordsMatch`` → an empty last page;
``noSetHierarchy`` from ``ListSets`` → no sets; any other OAI-PMH error → :class:`OaiEndpointError` with its code
and message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from lxml import etree
from oaipmh import error as oai_error
from oaipmh.client import BaseClient, buildHeader
from oaipmh.datestamp import DatestampError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from orcid_sync.domain.feeds.ports import (
    BadResumptionTokenError,
    EndpointDescription,
    HarvestedRecord,
    OaiEndpointError,
    RecordPage,
)

NS_OAI = "http://www.openarchives.org/OAI/2.0/"
NAMESPACES = {"oai": NS_OAI}
GRANULARITIES = ("YYYY-MM-DD", "YYYY-MM-DDThh:mm:ssZ")
_DATESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")
USER_AGENT = "orcid-sync OAI-PMH harvester (+https://github.com/orcid-sync)"
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""A page bigger than this is refused (a misbehaving endpoint must not exhaust a Lambda's memory)."""


class _TransientError(Exception):
    """A failure worth another try: ``retry_after`` seconds when the endpoint said so."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after_seconds(header: str | None, now: Callable[[], datetime]) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


class _PageClient(BaseClient):  # type: ignore[misc]
    """pyoai's ``BaseClient`` for one base URL, speaking HTTP through the harvester's ``fetch``."""

    def __init__(self, base_url: str, fetch: Callable[[str, dict[str, str]], bytes]) -> None:
        super().__init__()
        self._base_url = base_url
        self._fetch = fetch
        self.last_tree: Any = None

    def makeRequest(self, **kw: Any) -> bytes:
        return self._fetch(self._base_url, {key: str(value) for key, value in kw.items()})

    def parse(self, xml: bytes | str) -> Any:
        """Well-formed, DTD-free OAI-PMH or an error (lxml's ``XMLSyntaxError`` is pyoai's ``XMLSyntaxError``)."""
        data = xml.encode("utf-8") if isinstance(xml, str) else xml
        root = etree.fromstring(data, _safe_parser())
        if root.getroottree().docinfo.doctype:
            raise OaiEndpointError(f"{self._base_url} answered with a DOCTYPE declaration; refused (no DTDs)")
        if root.tag != f"{{{NS_OAI}}}OAI-PMH":
            raise OaiEndpointError(f"{self._base_url} did not answer OAI-PMH (root element {root.tag!r})")
        self.last_tree = root
        return root


class OaiPmhHarvester:
    """:class:`orcid_sync.domain.feeds.ports.OaiHarvester` over HTTP(S)."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        attempts: int = 5,
        max_retry_after: float = 60.0,
        retry_budget: float = 120.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._session = session or requests.Session()
        self._timeout = (connect_timeout, read_timeout)
        self._attempts = attempts
        self._max_retry_after = max_retry_after
        self._retry_budget = retry_budget
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._now = now

    # --- the port -------------------------------------------------------------------------------------

    def describe(self, base_url: str) -> EndpointDescription:
        client = _PageClient(base_url, self._fetch)
        with _oai_errors(base_url, "Identify"):
            identify = client.identify()
        earliest = _text(client.last_tree, "string(/oai:OAI-PMH/oai:Identify/oai:earliestDatestamp)")
        granularity = str(identify.granularity()).strip()
        if granularity not in GRANULARITIES:
            raise OaiEndpointError(f"{base_url}: Identify gives a granularity OAI-PMH does not define: {granularity!r}")
        with _oai_errors(base_url, "ListMetadataFormats"):
            formats = tuple(str(prefix) for prefix, _schema, _namespace in client.listMetadataFormats())
        try:
            with _oai_errors(base_url, "ListSets"):
                sets = tuple((str(spec), str(name)) for spec, name, _description in client.listSets())
        except _NoSetsError:
            sets = ()
        return EndpointDescription(
            repository_name=str(identify.repositoryName()).strip(),
            base_url=str(identify.baseURL()).strip() or base_url,
            protocol_version=str(identify.protocolVersion()).strip(),
            granularity=granularity,
            earliest_datestamp=earliest,
            deleted_record=str(identify.deletedRecord()).strip(),
            metadata_prefixes=formats,
            sets=sets,
        )

    def list_records(
        self,
        base_url: str,
        *,
        metadata_prefix: str,
        set_spec: str | None = None,
        from_: str | None = None,
        resumption_token: str | None = None,
    ) -> RecordPage:
        arguments: dict[str, str]
        if resumption_token is not None:
            arguments = {"resumptionToken": resumption_token}
        else:
            if from_ is not None and not _DATESTAMP.match(from_):
                raise ValueError(f"from_ {from_!r} is not an OAI-PMH datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ)")
            arguments = {"metadataPrefix": metadata_prefix}
            if set_spec:
                arguments["set"] = set_spec
            if from_:
                arguments["from"] = from_
        client = _PageClient(base_url, self._fetch)
        try:
            with _oai_errors(base_url, "ListRecords"):
                tree = client.makeRequestErrorHandling(verb="ListRecords", **arguments)
        except _NoRecordsError:
            return RecordPage(
                records=[], resumption_token=None, response_date=_response_date(base_url, client.last_tree)
            )
        token_node = tree.find(f"{{{NS_OAI}}}ListRecords/{{{NS_OAI}}}resumptionToken")
        token = (token_node.text or "").strip() if token_node is not None else ""
        size = token_node.get("completeListSize") if token_node is not None else None
        return RecordPage(
            records=[_record(node) for node in tree.iterfind(f"{{{NS_OAI}}}ListRecords/{{{NS_OAI}}}record")],
            resumption_token=token or None,
            response_date=_response_date(base_url, tree),
            complete_list_size=int(size) if size and size.strip().isdigit() else None,
        )

    # --- HTTP with retries ----------------------------------------------------------------------------

    def _fetch(self, base_url: str, params: dict[str, str]) -> bytes:
        verb = params.get("verb", "?")
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts) | _SleepBudget(self._retry_budget),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._get(base_url, params)
        except _TransientError as exc:
            tries = retrying.statistics.get("attempt_number", self._attempts)
            raise OaiEndpointError(f"{base_url} ({verb}): {exc}, still after {tries} attempts") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _TransientError) and failure.retry_after is not None:
            return min(failure.retry_after, self._max_retry_after)
        return float(min(self._backoff_max, self._backoff_initial * 2 ** (state.attempt_number - 1)))

    def _get(self, base_url: str, params: dict[str, str]) -> bytes:
        try:
            with self._session.get(
                base_url, params=params, timeout=self._timeout, headers={"User-Agent": USER_AGENT}, stream=True
            ) as response:
                status = response.status_code
                if status in {429, 503}:
                    wait = _retry_after_seconds(response.headers.get("Retry-After"), self._now)
                    raise _TransientError(f"HTTP {status} (Retry-After: {response.headers.get('Retry-After')})", wait)
                if status in {500, 502, 504}:
                    raise _TransientError(f"HTTP {status}")
                if status != 200:
                    raise OaiEndpointError(f"{base_url} answered HTTP {status} to {params.get('verb', '?')}")
                return _read_limited(response)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _TransientError(f"network error: {type(exc).__name__}: {exc}") from exc
        except requests.exceptions.ChunkedEncodingError as exc:
            raise _TransientError(f"the answer was cut off: {exc}") from exc
        except requests.RequestException as exc:
            raise OaiEndpointError(f"{base_url}: {type(exc).__name__}: {exc}") from exc


class _SleepBudget(stop_base):
    """Stop when the coming wait would take the time slept in this call past the budget."""

    def __init__(self, budget: float) -> None:
        self._budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return bool(retry_state.idle_for + (retry_state.upcoming_sleep or 0.0) > self._budget)


def _read_limited(response: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=1 << 16):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise OaiEndpointError(f"{response.url}: the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class _NoRecordsError(Exception):
    """``noRecordsMatch``: an empty page, not an error."""


class _NoSetsError(Exception):
    """``noSetHierarchy`` from ``ListSets``: no sets, not an error."""


@contextmanager
def _oai_errors(base_url: str, verb: str) -> Iterator[None]:
    """pyoai's exceptions as the port's."""
    try:
        yield
    except oai_error.NoRecordsMatchError as exc:
        raise _NoRecordsError from exc
    except oai_error.NoSetHierarchyError as exc:
        if verb != "ListSets":
            raise OaiEndpointError(f"{base_url} answered {verb} with noSetHierarchy: {exc}") from exc
        raise _NoSetsError from exc
    except oai_error.BadResumptionTokenError as exc:
        raise BadResumptionTokenError(
            f"{base_url} no longer knows the resumption token (badResumptionToken: {exc}); the harvest must restart"
        ) from exc
    except oai_error.ErrorBase as exc:
        raise OaiEndpointError(f"{base_url} answered {verb} with OAI-PMH error {exc.oainame()}: {exc}") from exc
    except oai_error.XMLSyntaxError as exc:
        raise OaiEndpointError(f"{base_url} answered {verb} with XML that is not well-formed") from exc
    except (DatestampError, ValueError, IndexError) as exc:
        raise OaiEndpointError(f"{base_url} answered {verb} with something OAI-PMH does not allow: {exc!r}") from exc


def _text(tree: Any, xpath: str) -> str:
    return str(tree.xpath(xpath, namespaces=NAMESPACES)).strip() if tree is not None else ""


def _response_date(base_url: str, tree: Any) -> str:
    value = _text(tree, "string(/oai:OAI-PMH/oai:responseDate)")
    if not value:
        raise OaiEndpointError(f"{base_url}: the answer has no responseDate")
    return value


def _record(node: Any) -> HarvestedRecord:
    header_node = node.find(f"{{{NS_OAI}}}header")
    if header_node is None:
        raise OaiEndpointError("a ListRecords record has no header")
    raw_datestamp = _text(header_node, "string(oai:datestamp)")
    try:
        header = buildHeader(header_node, NAMESPACES)
        identifier, sets, deleted = header.identifier(), header.setSpec(), bool(header.isDeleted())
    except DatestampError:
        # A datestamp pyoai cannot read does not make the record unusable: the harvest goes by responseDate.
        identifier = _text(header_node, "string(oai:identifier)")
        sets = [str(spec) for spec in header_node.xpath("oai:setSpec/text()", namespaces=NAMESPACES)]
        deleted = header_node.get("status") == "deleted"
    identifier = str(identifier).strip()
    if not identifier:
        raise OaiEndpointError("a ListRecords record has no identifier")
    metadata = node.find(f"{{{NS_OAI}}}metadata")
    payload = None
    if metadata is not None and not deleted:
        children = [child for child in metadata if isinstance(child.tag, str)]
        if children:
            payload = etree.tostring(children[0], encoding="UTF-8")
    return HarvestedRecord(
        identifier=identifier,
        datestamp=raw_datestamp,
        deleted=deleted,
        set_specs=tuple(str(spec).strip() for spec in sets),
        metadata_xml=payload,
    )
