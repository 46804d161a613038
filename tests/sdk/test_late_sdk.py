"""The official Zernio Python SDK (late-sdk) used unchanged against the gateway.

The SDK is pointed at the gateway's Zernio-compatible surface (`$GATEWAY_BASE_URL/api`; the SDK
appends `/v1/...` itself) with a gateway key (`tgw_...`) as its API key. Run by
scripts/sdk-test, which installs the pinned SDK; the gateway must already be running.

Environment:
    GATEWAY_BASE_URL  e.g. http://127.0.0.1:8080
    GATEWAY_API_KEY   a tenant key allowed to post to account `sandbox_public`
"""

from __future__ import annotations

import os
import uuid

import pytest
from late import LateAPIError, LateAuthenticationError, Zernio

ACCOUNT_ID = "sandbox_public"
VIDEO_URL = "https://cdn.example.com/sunset-video.mp4"
CAPTION = "Check out this amazing sunset! #sunset #nature"
TIKTOK_SETTINGS = {
    "privacy_level": "PUBLIC_TO_EVERYONE",
    "allow_comment": True,
    "allow_duet": True,
    "allow_stitch": True,
    "content_preview_confirmed": True,
    "express_consent_given": True,
}
# A page of posts is fetched at a time; a run only needs its own post, which is the newest.
LIST_PAGE_SIZE = 100
LIST_MAX_PAGES = 20


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        pytest.fail(f"{name} is not set; run this through scripts/sdk-test", pytrace=False)
    return value


def _compat_base_url() -> str:
    base = _env("GATEWAY_BASE_URL").rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


def _client(api_key: str) -> Zernio:
    # Shorter timeouts than the SDK's defaults (30 s, 300 s for publishNow) so that a hung
    # gateway fails the test rather than stalling CI.
    return Zernio(
        api_key=api_key,
        base_url=_compat_base_url(),
        timeout=30.0,
        publish_timeout=120.0,
    )


def _account_id_of(target) -> str | None:
    # PlatformTarget.accountId is either the id or a populated account object.
    account = target.accountId
    if account is None or isinstance(account, str):
        return account
    return account.field_id


def _tiktok_target(post):
    assert post.platforms, f"post {post.field_id} has no platforms"
    targets = [t for t in post.platforms if t.platform == "tiktok"]
    assert targets, f"post {post.field_id} has no tiktok target: {post.platforms!r}"
    return targets[0]


@pytest.fixture(scope="module")
def client() -> Zernio:
    return _client(_env("GATEWAY_API_KEY"))


@pytest.fixture(scope="module")
def created(client: Zernio):
    """One TikTok video post per run; a unique caption keeps duplicate-content guards quiet."""
    marker = uuid.uuid4().hex
    content = f"{CAPTION} {marker}"
    response = client.posts.create(
        content=content,
        media_items=[{"type": "video", "url": VIDEO_URL}],
        platforms=[{"platform": "tiktok", "accountId": ACCOUNT_ID}],
        tiktok_settings=dict(TIKTOK_SETTINGS),
        publish_now=True,
    )
    assert response.post is not None, f"create answered without a post: {response!r}"
    return marker, response.post


def test_accounts_list_includes_sandbox_public(client: Zernio) -> None:
    response = client.accounts.list()
    ids = [account.field_id for account in response.accounts]
    assert ACCOUNT_ID in ids, f"accounts seen through the SDK: {ids}"
    account = next(a for a in response.accounts if a.field_id == ACCOUNT_ID)
    assert account.platform.value == "tiktok"


def test_create_tiktok_video_post(created) -> None:
    _, post = created
    assert post.field_id, "created post has no _id"
    assert post.status is not None, "created post has no status"
    target = _tiktok_target(post)
    assert _account_id_of(target) == ACCOUNT_ID


def test_get_post_by_id(client: Zernio, created) -> None:
    marker, post = created
    response = client.posts.get(post.field_id)
    assert response.post is not None, f"get answered without a post: {response!r}"
    fetched = response.post
    assert fetched.field_id == post.field_id
    assert fetched.status is not None
    target = _tiktok_target(fetched)
    assert _account_id_of(target) == ACCOUNT_ID
    if fetched.content is not None:
        assert marker in fetched.content


def test_list_posts_finds_created_post(client: Zernio, created) -> None:
    _, post = created
    seen: list[str] = []
    for page in range(1, LIST_MAX_PAGES + 1):
        response = client.posts.list(page=page, limit=LIST_PAGE_SIZE)
        posts = response.posts or []
        for listed in posts:
            if listed.field_id == post.field_id:
                assert listed.status is not None
                _tiktok_target(listed)
                return
            seen.append(listed.field_id)
        pagination = response.pagination
        if not posts or pagination is None or pagination.pages is None or page >= pagination.pages:
            break
    pytest.fail(f"post {post.field_id} not listed; saw {len(seen)} posts: {seen[:20]}")


def test_non_tiktok_platform_is_refused_with_400(client: Zernio) -> None:
    with pytest.raises(LateAPIError) as excinfo:
        client.posts.create(
            content=f"{CAPTION} {uuid.uuid4().hex}",
            media_items=[{"type": "video", "url": VIDEO_URL}],
            platforms=[{"platform": "twitter", "accountId": ACCOUNT_ID}],
            publish_now=True,
        )
    error = excinfo.value
    assert error.status_code == 400, f"expected 400, got {error.status_code}: {error}"
    # The SDK takes its message from the body's `error` string (Zernio's error shape); without
    # it the caller only sees "HTTP 422".
    assert isinstance(error.details.get("error"), str) and error.details["error"], error.details


def test_wrong_api_key_is_refused_with_401() -> None:
    intruder = _client("tgw_" + uuid.uuid4().hex)
    with pytest.raises(LateAuthenticationError) as excinfo:
        intruder.accounts.list()
    assert excinfo.value.status_code == 401
