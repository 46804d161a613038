"""The official Zernio Python SDKs, `late-sdk` (module `late`) and `zernio-sdk` (module
`zernio`), used unchanged against the gateway's Zernio-compatible surface; every test runs once
per SDK.

The SDK is pointed at `$GATEWAY_BASE_URL/api` (it appends `/v1/...` itself) with a gateway key
(`tgw_...`) as its API key. Run by scripts/sdk-test, which installs the pinned SDKs; the gateway
must already be running on the sandbox upstream.

Environment:
    GATEWAY_BASE_URL  e.g. http://127.0.0.1:8080
    GATEWAY_API_KEY   a tenant key that may post to `sandbox_public` and `sandbox_private`
"""

from __future__ import annotations

import importlib
import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

ACCOUNT_ID = "sandbox_public"
VIDEO_URL = "https://cdn.example.com/sunset-video.mp4"
PHOTO_URLS = ["https://cdn.example.com/beach-1.jpg", "https://cdn.example.com/beach-2.jpg"]
CAPTION = "Check out this amazing sunset! #sunset #nature"
VIDEO_SETTINGS = {
    "privacy_level": "PUBLIC_TO_EVERYONE",
    "allow_comment": True,
    "allow_duet": True,
    "allow_stitch": True,
    "content_preview_confirmed": True,
    "express_consent_given": True,
}
PHOTO_SETTINGS = {
    "privacy_level": "PUBLIC_TO_EVERYONE",
    "allow_comment": True,
    "content_preview_confirmed": True,
    "express_consent_given": True,
}
# Within the gateway's schedule horizon ([posts] schedule_horizon_days, a year by default).
FUTURE = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT09:00:00Z")
LATER = (datetime.now(timezone.utc) + timedelta(days=60)).strftime("%Y-%m-%dT09:00:00Z")


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set; run this through scripts/sdk-test", pytrace=False)
    return value


def _base_url() -> str:
    base = _env("GATEWAY_BASE_URL").rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


@pytest.fixture(scope="module", params=["late", "zernio"])
def sdk(request):
    """The SDK's module: `late` from late-sdk, `zernio` from zernio-sdk."""
    return importlib.import_module(request.param)


def _client(sdk, api_key: str):
    # Shorter timeouts than the SDK's defaults so that a hung gateway fails the test.
    return sdk.Zernio(api_key=api_key, base_url=_base_url(), timeout=30.0, publish_timeout=120.0)


@pytest.fixture(scope="module")
def client(sdk):
    return _client(sdk, _env("GATEWAY_API_KEY"))


def _unique(text: str = CAPTION) -> str:
    # A unique caption keeps the duplicate-content guard quiet across runs.
    return f"{text} {uuid.uuid4().hex}"


def _account_id_of(target) -> str | None:
    account = target.accountId
    if account is None or isinstance(account, str):
        return account
    return account.field_id


def _video(client, **extra):
    return client.posts.create(
        content=_unique(),
        media_items=[{"type": "video", "url": VIDEO_URL}],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings=dict(VIDEO_SETTINGS),
        **extra,
    )


@pytest.fixture(scope="module")
def published(client):
    response = _video(client, publish_now=True)
    assert response.post is not None, f"create answered without a post: {response!r}"
    return response.post


@pytest.fixture(scope="module")
def scheduled(client):
    response = _video(client, scheduled_for=FUTURE)
    assert response.post is not None
    return response.post


def test_accounts(client) -> None:
    response = client.accounts.list()
    ids = [account.field_id for account in response.accounts]
    assert ACCOUNT_ID in ids, f"accounts seen through the SDK: {ids}"
    account = next(a for a in response.accounts if a.field_id == ACCOUNT_ID)
    assert account.platform.value == "tiktok"
    assert account.isActive is True


def test_creator_info(client) -> None:
    info = client.accounts.get_tik_tok_creator_info(ACCOUNT_ID, media_type="video")
    values = [level["value"] for level in info["privacyLevels"]]
    assert "PUBLIC_TO_EVERYONE" in values, info
    comment = info["postingLimits"]["interactionSettings"]["allow_comment"]
    assert set(comment) >= {"enabled", "required", "default", "label"}, comment
    for kind in info["commercialContentTypes"]:
        assert set(kind) == {"value", "label", "requires"}, kind
    photo = client.accounts.get_tik_tok_creator_info(ACCOUNT_ID, media_type="photo")
    assert photo["postingLimits"]["interactionSettings"]["allow_duet"] is None


def test_create_video(published) -> None:
    assert published.field_id
    assert published.status.value == "published", published.status
    target = next(t for t in published.platforms if t.platform == "tiktok")
    assert _account_id_of(target) == ACCOUNT_ID


def test_create_carousel(client) -> None:
    response = client.posts.create(
        content=_unique("Beach day"),
        media_items=[{"type": "image", "url": url} for url in PHOTO_URLS],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings=dict(PHOTO_SETTINGS),
        publish_now=True,
    )
    assert response.post is not None and response.post.field_id
    assert len(response.post.mediaItems) == 2


def test_create_creator_inbox_draft(client) -> None:
    # TikTok's Creator Inbox: the video waits in the creator's TikTok inbox.
    response = client.posts.create(
        content=_unique("For the inbox"),
        media_items=[{"type": "video", "url": VIDEO_URL}],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings={**VIDEO_SETTINGS, "draft": True},
        publish_now=True,
    )
    assert response.post is not None and response.post.field_id


def test_dry_run_creates_nothing(client) -> None:
    content = _unique("Dry run")
    verdict = client.posts.create_post(
        content=content,
        media_items=[{"type": "video", "url": VIDEO_URL}],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings=dict(VIDEO_SETTINGS),
        publish_now=True,
        dry_run=True,
    )
    assert verdict["dryRun"] is True, verdict
    assert verdict["canPublish"] is True, verdict
    assert verdict["tiktok"][0]["accountId"] == ACCOUNT_ID
    listed = client.posts.list(page=1, limit=100)
    assert all(p.content != content for p in listed.posts or []), "a dry run made a post"


def test_get(client, published) -> None:
    fetched = client.posts.get(published.field_id).post
    assert fetched.field_id == published.field_id
    assert fetched.status is not None


def test_list_with_pagination(client, published, scheduled) -> None:
    first = client.posts.list(page=1, limit=1)
    assert first.pagination.limit == 1
    assert first.pagination.total >= 2
    assert first.pagination.pages == first.pagination.total
    assert len(first.posts) == 1
    second = client.posts.list(page=2, limit=1)
    assert second.posts[0].field_id != first.posts[0].field_id
    seen = []
    for page in range(1, 50):
        response = client.posts.list(page=page, limit=100)
        seen.extend(p.field_id for p in response.posts or [])
        if page >= (response.pagination.pages or 1):
            break
    assert published.field_id in seen and scheduled.field_id in seen
    mine = next(p for p in client.posts.list(page=1, limit=500).posts if p.field_id == published.field_id)
    assert mine.content == published.content
    assert mine.mediaItems and str(mine.mediaItems[0].url) == VIDEO_URL


def test_update(client, scheduled) -> None:
    content = _unique("Rescheduled")
    response = client.posts.update(scheduled.field_id, content=content, scheduled_for=LATER)
    assert response.post is not None
    assert response.post.field_id == scheduled.field_id


def test_delete(client) -> None:
    post = _video(client, scheduled_for=FUTURE).post
    response = client.posts.delete(post.field_id)
    assert response.message


def test_retry_a_failed_post(client, sdk) -> None:
    # The sandbox fails a media URL on a host under .invalid as TikTok's download failure.
    failed = client.posts.create_post(
        content=_unique("Will fail"),
        media_items=[{"type": "video", "url": "https://media.invalid/broken.mp4"}],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings=dict(VIDEO_SETTINGS),
        publish_now=True,
    )
    # Zernio's 207: created, the publish failed; the post is there to retry.
    assert failed["post"]["status"] == "failed", failed
    assert failed["platformResults"][0]["status"] == "failed", failed
    post_id = failed["post"]["_id"]
    assert client.posts.get(post_id).post.status.value == "failed"
    response = client.posts.retry(post_id)
    assert response.message


def test_analytics(client, published) -> None:
    listed = client.analytics.get_analytics(platform="tiktok", account_id=ACCOUNT_ID)
    assert "posts" in listed and "pagination" in listed, listed
    try:
        single = client.analytics.get_analytics(post_id=published.field_id)
        assert single["postId"] == published.field_id, single
    except Exception as error:  # noqa: BLE001 - only the SDK's own typed error is accepted
        assert getattr(error, "status_code", None) in (202, 424), error


def test_presign(client) -> None:
    answer = client.media.get_media_presigned_url("clip.mp4", "video/mp4", size=1024)
    assert answer["uploadUrl"].startswith("http") and answer["publicUrl"].startswith("http"), answer


def test_a_broken_post_is_a_typed_400_with_the_code(client, sdk) -> None:
    with pytest.raises(sdk.LateAPIError) as excinfo:
        client.posts.create(
            content=_unique(),
            media_items=[{"type": "video", "url": VIDEO_URL}],
            platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
            tiktok_settings={"allow_comment": True},
            publish_now=True,
        )
    error = excinfo.value
    assert error.status_code == 400, error
    assert error.details["code"] == "validation_failed", error.details
    assert error.details["type"] == "invalid_request_error"
    assert error.details["details"]["errors"], error.details
    assert "Fix:" in error.message


def test_a_platform_other_than_tiktok_is_a_400(client, sdk) -> None:
    with pytest.raises(sdk.LateAPIError) as excinfo:
        client.posts.create(
            content=_unique(),
            media_items=[{"type": "video", "url": VIDEO_URL}],
            platforms=[{"platform": "twitter", "accountId": ACCOUNT_ID}],
            publish_now=True,
        )
    assert excinfo.value.status_code == 400


def test_an_account_of_another_tenant_is_a_typed_403(client, sdk) -> None:
    with pytest.raises(sdk.LateForbiddenError):
        client.posts.create(
            content=_unique(),
            media_items=[{"type": "video", "url": VIDEO_URL}],
            platforms=[{"platform": "tiktok", "accountId": "acc_of_nobody"}],
            tiktok_settings=dict(VIDEO_SETTINGS),
            publish_now=True,
        )


def test_an_unknown_post_is_a_typed_404(client, sdk) -> None:
    with pytest.raises(sdk.LateNotFoundError) as excinfo:
        client.posts.get("no_such_post")
    assert excinfo.value.details["code"] == "not_found"


def test_a_wrong_key_is_a_typed_401(sdk) -> None:
    with pytest.raises(sdk.LateAuthenticationError) as excinfo:
        _client(sdk, "tgw_" + uuid.uuid4().hex).accounts.list()
    assert excinfo.value.details["code"] == "invalid_credentials"
