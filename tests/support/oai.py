"""A scripted OAI-PMH endpoint (the ``OaiHarvester`` port in memory) and DataCite records, for the feed tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orcid_sync.domain.feeds.ports import EndpointDescription, HarvestedRecord, RecordPage

ORCID_ADA = "0000-0002-1825-0097"
ORCID_GRACE = "0000-0001-5109-3700"
ORCID_NOBODY = "0000-0003-4236-901X"


def datacite(doi: str, title: str, orcids: tuple[str, ...], *, type_general: str = "JournalArticle") -> bytes:
    creators = "".join(
        f'<creator><creatorName>Creator {n}</creatorName><nameIdentifier nameIdentifierScheme="ORCID" '
        f'schemeURI="https://orcid.org">https://orcid.org/{orcid}</nameIdentifier></creator>'
        for n, orcid in enumerate(orcids)
    )
    return (
        '<oai_datacite xmlns="http://schema.datacite.org/oai/oai-1.1/"><payload>'
        '<resource xmlns="http://datacite.org/schema/kernel-4">'
        f'<identifier identifierType="DOI">{doi}</identifier><creators>{creators}</creators>'
        f"<titles><title>{title}</title></titles><publisher>Example University</publisher>"
        "<publicationYear>2024</publicationYear>"
        f'<resourceType resourceTypeGeneral="{type_general}">{type_general}</resourceType>'
        "</resource></payload></oai_datacite>"
    ).encode()


@dataclass
class Item:
    identifier: str
    datestamp: str
    metadata: bytes | None
    deleted: bool = False


@dataclass
class ScriptedEndpoint:
    """An OAI-PMH endpoint in memory: pages of ``page_size``, ``from`` by datestamp, failures on demand."""

    items: dict[str, Item] = field(default_factory=dict)
    page_size: int = 100
    response_date: str = "2026-03-01T00:00:00Z"
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    prefixes: tuple[str, ...] = ("oai_dc", "oai_datacite")
    sets: tuple[tuple[str, str], ...] = (("com_123456789_1", "Faculty of Science"),)
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_on_call: dict[int, Exception] = field(default_factory=dict)

    def put(self, identifier: str, datestamp: str, metadata: bytes | None, *, deleted: bool = False) -> None:
        self.items[identifier] = Item(identifier, datestamp, metadata, deleted)

    def describe(self, base_url: str) -> EndpointDescription:
        return EndpointDescription(
            repository_name="Example Repository",
            base_url=base_url,
            protocol_version="2.0",
            granularity=self.granularity,
            earliest_datestamp="2020-01-01T00:00:00Z",
            deleted_record="persistent",
            metadata_prefixes=self.prefixes,
            sets=self.sets,
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
        self.calls.append({"metadata_prefix": metadata_prefix, "from_": from_, "resumption_token": resumption_token})
        if set_spec is not None and resumption_token is None:
            self.calls[-1]["set_spec"] = set_spec
        failure = self.fail_on_call.pop(len(self.calls), None)
        if failure is not None:
            raise failure
        if resumption_token is not None:
            offset_text, from_text = resumption_token.split("|")
            offset, from_ = int(offset_text), from_text or None
        else:
            offset = 0
        selected = sorted(
            (item for item in self.items.values() if from_ is None or item.datestamp >= from_),
            key=lambda item: item.identifier,
        )
        chunk = selected[offset : offset + self.page_size]
        more = offset + self.page_size < len(selected)
        return RecordPage(
            records=[
                HarvestedRecord(
                    item.identifier, item.datestamp, item.deleted, (), None if item.deleted else item.metadata
                )
                for item in chunk
            ],
            resumption_token=f"{offset + self.page_size}|{from_ or ''}" if more else None,
            response_date=self.response_date,
            complete_list_size=len(selected),
        )
