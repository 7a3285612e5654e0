"""Feed configuration: which base URLs a feed accepts, which format it harvests, its scheduled run ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from orcid_sync.domain.feeds import harvest
from orcid_sync.domain.feeds.config import choose_prefix, scheduled_feed_job_id
from orcid_sync.domain.feeds.models import FeedConfig, HarvestCounts, base_url_problem, is_loopback_host

JOB_ID_IN_PATH = re.compile(r"^[A-Za-z0-9._:-]+$")  # the admin API's /jobs/{job_id}


@pytest.mark.parametrize(
    "url",
    [
        "https://repository.example.edu/oai/request",
        "https://repository.example.edu:8443/server/oai/request",
        "http://localhost:8123/oai",
        "http://127.0.0.1:8123/oai",
        "http://127.8.9.10/oai",
        "http://[::1]:8123/oai",
        "http://provider.localhost/oai",
    ],
)
def test_https_urls_and_plain_http_on_this_machine_are_accepted(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://repository.example.edu/oai", "plain http is only allowed for a provider on this machine"),
        ("http://10.0.0.5/oai", "not 10.0.0.5"),
        ("http://localhost.example.com/oai", "must use https"),
        ("repository.example.edu/oai", "absolute https:// URL"),
        ("ftp://repository.example.edu/oai", "absolute https:// URL"),
        ("https:///oai", "absolute https:// URL"),
        ("https://repository.example.edu/oai?verb=Identify", "without ?query"),
        ("https://repository.example.edu/oai?", "without ?query"),
        ("https://repository.example.edu/oai#top", "#fragment"),
        ("https://me:secret@repository.example.edu/oai", "user name or password"),
        ("https://repository.example.edu/o ai", "whitespace"),
        ("https://repository.example.edu:99999/oai", "is not a URL"),
    ],
)
def test_other_urls_are_refused_saying_why(url: str, why: str) -> None:
    problem = base_url_problem(url)
    assert problem is not None and why in problem


def test_loopback_hosts() -> None:
    assert is_loopback_host("LOCALHOST") and is_loopback_host("::1") and is_loopback_host("127.0.0.53")
    assert not is_loopback_host("128.0.0.1") and not is_loopback_host("example.localhost.org")


def test_a_feed_config_is_validated_field_by_field() -> None:
    config = FeedConfig.model_validate(
        {"feed_id": "eprints", "base_url": "https://eprints.example.ac.uk/cgi/oai2/", "profile": "eprints"}
    )
    assert (config.base_url, config.metadata_prefix, config.enabled) == (
        "https://eprints.example.ac.uk/cgi/oai2",
        "auto",
        True,
    )
    with pytest.raises(ValidationError) as refused:
        FeedConfig.model_validate(
            {
                "feed_id": "x",
                "base_url": "https://r.example.edu/oai",
                "profile": "dspace",
                "type_overrides": {"Thesis": "etd.doctoral", "Poem": "poetry"},
                "enabled": "yes",
            }
        )
    errors = {error["loc"][0]: error["msg"] for error in refused.value.errors()}
    assert set(errors) == {"type_overrides", "enabled"}
    assert "'Poem' -> 'poetry': 'poetry' is not a known Esploro asset type" in errors["type_overrides"]


@pytest.mark.parametrize(
    ("choice", "offered", "chosen"),
    [
        ("auto", ("oai_dc", "oai_datacite", "oai_openaire"), "oai_openaire"),
        ("auto", ("oai_dc", "oai_datacite", "marc21"), "oai_datacite"),
        ("auto", ("oai_dc", "rioxx"), "oai_dc"),
        ("auto", ("marc21",), None),
        ("oai_dc", ("oai_dc", "oai_openaire"), "oai_dc"),
        ("oai_datacite", ("oai_dc",), None),
    ],
)
def test_auto_picks_the_richest_format_offered(choice: str, offered: tuple[str, ...], chosen: str | None) -> None:
    assert choose_prefix(choice, offered) == chosen


def test_scheduled_run_ids_are_stable_per_firing_valid_in_paths_and_distinct_per_feed() -> None:
    now = datetime(2026, 3, 1, 1, tzinfo=UTC)
    first = scheduled_feed_job_id("a@b", now, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901")
    assert first == scheduled_feed_job_id("a@b", now, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901")
    assert first.startswith("feed-20260301-1b2c3d4e5f60-a-b-")
    other = scheduled_feed_job_id("a~b", now, "1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901")
    assert other != first
    assert JOB_ID_IN_PATH.match(first) and JOB_ID_IN_PATH.match(scheduled_feed_job_id("x" * 128, now, "r"))


def test_the_incremental_from_follows_the_endpoint_granularity() -> None:
    assert harvest._from_at_granularity("2026-03-01T10:20:30Z", "YYYY-MM-DD") == "2026-03-01"
    assert harvest._from_at_granularity("2026-03-01T10:20:30Z", "YYYY-MM-DDThh:mm:ssZ") == "2026-03-01T10:20:30Z"
    assert harvest._from_at_granularity(None, "YYYY-MM-DD") is None


def test_harvest_counts_add_up_and_become_job_counts() -> None:
    total = HarvestCounts(records_harvested=100, assets_created=90) + HarvestCounts(records_harvested=50)
    assert harvest.job_counts(total).nonzero() == {"records_harvested": 150, "assets_created": 90}


def test_a_harvest_email_counts_records_and_names_the_feed() -> None:
    from orcid_sync.adapters.job_email import notification_body, notification_subject
    from orcid_sync.domain.jobs.models import Job, JobCounts, JobState, JobTrigger, JobType

    started = datetime(2026, 3, 1, 1, tzinfo=UTC)
    job = Job(
        job_id="feed-20260301-abc-repo-123456",
        type=JobType.FEED,
        trigger=JobTrigger.SCHEDULE,
        started_by="schedule",
        started_at=started,
        ended_at=started,
        state=JobState.COMPLETED_WITH_ERRORS,
        counts=JobCounts(records_harvested=250, assets_created=200, records_refused=2, creators_unmatched=40),
        report={"feed_id": "repo", "from": "2026-02-28T01:00:00Z", "pages": 3},
    )
    assert notification_subject(job) == "orcid-sync feed job 2026-03-01 completed with errors: 250 records, 2 refused"
    body = notification_body(job, [])
    assert "Feed:     repo, records changed since 2026-02-28T01:00:00Z" in body
    assert "records harvested" in body and "assets withdrawn" in body and "creators unmatched" in body
    assert "researchers processed" not in body
    failed = notification_body(job.model_copy(update={"state": JobState.FAILED, "report": {"error": "gone"}}), [])
    assert "The harvest failed: gone" in failed
