"""Signing up, in and out through the pages, CSRF, and the account page."""

import re
from typing import Any

import httpx

from tests.conftest import PASSWORD, register

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def form_token(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    token = await form_token(client, "/login")
    return await client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )


async def test_registering_signs_you_in(client: httpx.AsyncClient) -> None:
    token = await form_token(client, "/register")

    response = await client.post(
        "/register",
        data={
            "name": "Ngozi",
            "email": "ngozi@example.com",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "kf_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    home = await client.get("/account")
    assert home.status_code == 200
    assert "Ngozi" in home.text


async def test_registration_errors_are_shown_next_to_the_field_and_input_kept(
    client: httpx.AsyncClient,
) -> None:
    await register(client, email="taken@example.com")
    token = await form_token(client, "/register")

    response = await client.post(
        "/register",
        data={
            "name": "Kofi",
            "email": "TAKEN@example.com",
            "password": "password",
            "csrf_token": token,
        },
    )

    assert response.status_code == 422
    assert 'id="error-password"' in response.text
    assert "too easy to guess" in response.text
    assert 'value="Kofi"' in response.text
    assert 'value="TAKEN@example.com"' in response.text
    weak_fixed = await client.post(
        "/register",
        data={
            "name": "Kofi",
            "email": "taken@example.com",
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert 'id="error-email"' in weak_fixed.text
    assert "already exists" in weak_fixed.text


async def test_signing_in_and_out(client: httpx.AsyncClient) -> None:
    await register(client, email="ama@example.com", name="Ama")

    wrong = await sign_in(client, "ama@example.com", "not-her-password")
    right = await sign_in(client, "ama@example.com")
    signed_in = await client.get("/account")
    token = await form_token(client, "/logout")
    out = await client.post("/logout", data={"csrf_token": token})
    after = await client.get("/account")
    api_after = await client.get("/api/auth/me")

    assert wrong.status_code == 401
    assert "The email or password is wrong." in wrong.text
    assert 'value="ama@example.com"' in wrong.text
    assert right.status_code == 303
    assert signed_in.status_code == 200
    assert out.status_code == 303
    assert after.status_code == 303
    assert after.headers["location"] == "/login?next=/account"
    assert api_after.status_code == 401  # the page's scripts are signed out too


async def test_the_sign_in_page_limits_failures_per_address(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    await register(client, email="afua@example.com")
    token = await form_token(client, "/login")

    def attempt(email: str, password: str) -> dict[str, str]:
        return {"email": email, "password": password, "csrf_token": token}

    sprayed = [
        await client.post("/login", data=attempt(f"target-{n}@example.com", "Summer2026!"))
        for n in range(30)
    ]
    right_password = await client.post("/login", data=attempt("afua@example.com", PASSWORD))
    elsewhere = await sign_in(client_from("198.51.100.7"), "afua@example.com")

    assert [response.status_code for response in sprayed] == [401] * 20 + [429] * 10
    assert right_password.status_code == 429
    assert "Too many failed sign-ins from this address." in right_password.text
    assert 'value="afua@example.com"' in right_password.text
    assert 1 <= int(right_password.headers["retry-after"]) <= 600
    assert "kf_session" not in right_password.headers.get("set-cookie", "")
    assert elsewhere.status_code == 303


async def test_sign_in_goes_back_where_you_were_and_only_there(
    client: httpx.AsyncClient,
) -> None:
    await register(client, email="yaw@example.com")

    token = await form_token(client, "/login?next=/account")
    back = await client.post(
        "/login",
        data={
            "email": "yaw@example.com",
            "password": PASSWORD,
            "next": "/account",
            "csrf_token": token,
        },
    )
    await client.post("/logout", data={"csrf_token": await form_token(client, "/logout")})
    elsewhere = await client.post(
        "/login",
        data={
            "email": "yaw@example.com",
            "password": PASSWORD,
            "next": "//evil.example/steal",
            "csrf_token": await form_token(client, "/login"),
        },
    )

    assert back.headers["location"] == "/account"
    assert elsewhere.headers["location"] == "/"


async def test_forms_without_the_csrf_token_are_refused(client: httpx.AsyncClient) -> None:
    await register(client, email="esi@example.com")
    await client.get("/login")  # the browser has its CSRF cookie

    forged = await client.post(
        "/login", data={"email": "esi@example.com", "password": PASSWORD, "csrf_token": "x"}
    )
    missing = await client.post("/login", data={"email": "esi@example.com", "password": PASSWORD})

    assert forged.status_code == missing.status_code == 403
    assert "CSRF" in forged.text
    assert "kf_session" not in forged.headers.get("set-cookie", "")


async def test_changing_details_and_password(client: httpx.AsyncClient) -> None:
    await register(client, email="kwame@example.com", name="Kwame")
    await sign_in(client, "kwame@example.com")
    token = await form_token(client, "/account")

    renamed = await client.post(
        "/account/profile",
        data={"name": "Kwame A.", "csrf_token": token},
    )
    wrong = await client.post(
        "/account/password",
        data={
            "current_password": "nope",
            "new_password": "another-long-passphrase",
            "csrf_token": token,
        },
    )
    changed = await client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another-long-passphrase",
            "csrf_token": token,
        },
    )
    page = await client.get("/account?saved=password")
    old = await client.post(
        "/api/auth/login", json={"email": "kwame@example.com", "password": PASSWORD}
    )
    new = await client.post(
        "/api/auth/login",
        json={"email": "kwame@example.com", "password": "another-long-passphrase"},
    )

    assert renamed.status_code == 303
    assert wrong.status_code == 422
    assert "The current password is wrong." in wrong.text
    assert changed.status_code == 303
    assert "Your password is changed." in page.text
    assert "Kwame A." in page.text
    assert old.status_code == 401
    assert new.status_code == 200


async def test_a_password_change_signs_out_everywhere_else_at_once(
    client: httpx.AsyncClient, client_from: Any
) -> None:
    app = await register(client, email="efua@example.com")
    other_browser = client_from("198.51.100.7")
    await sign_in(other_browser, "efua@example.com")
    await sign_in(client, "efua@example.com")

    changed = await client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another-long-passphrase",
            "csrf_token": await form_token(client, "/account"),
        },
    )
    app_token = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {app['access_token']}"}
    )
    app_refresh = await client.post(
        "/api/auth/refresh", json={"refresh_token": app["refresh_token"]}
    )
    elsewhere = await other_browser.get("/account")
    here = await client.get("/account")

    assert changed.status_code == 303
    assert app_token.status_code == 401
    assert app_token.json()["error"]["message"] == "This session has been signed out."
    assert app_refresh.status_code == 401
    assert elsewhere.status_code == 303
    assert elsewhere.headers["location"] == "/login?next=/account"
    assert here.status_code == 200


async def test_the_page_session_works_for_the_api_only_with_the_csrf_header(
    client: httpx.AsyncClient, admin: dict[str, Any]
) -> None:
    await register(client, email="abena@example.com")
    await sign_in(client, "abena@example.com")
    token = CSRF.search((await client.get("/account")).text).group(1)  # type: ignore[union-attr]

    me = await client.get("/api/auth/me")
    without = await client.post(
        "/api/watch/progress",
        json={"movie_id": "00000000-0000-0000-0000-000000000000", "progress": 1},
    )
    with_header = await client.post(
        "/api/watch/progress",
        json={"movie_id": "00000000-0000-0000-0000-000000000000", "progress": 1},
        headers={"X-CSRF-Token": token},
    )

    assert me.json()["email"] == "abena@example.com"
    assert without.status_code == 403
    assert without.json()["error"]["code"] == "csrf_failed"
    assert with_header.status_code == 404  # through the guard; no such film


async def test_pages_are_protected_by_security_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")

    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text  # no inline scripts anywhere
    csrf_cookie = page.headers["set-cookie"]
    assert "kf_csrf=" in csrf_cookie
    assert "HttpOnly" in csrf_cookie


async def test_errors_on_pages_are_pages(client: httpx.AsyncClient) -> None:
    missing = await client.get("/no/such/page")
    api = await client.get("/api/no/such/thing")

    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Nothing here" in missing.text
    assert api.headers["content-type"] == "application/json"


async def test_static_files_come_from_this_site_and_are_cached_forever(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/login")
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)

    assert urls
    assert not re.search(r'(?:src|href)="https?://', page.text)
    for url in urls:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "immutable" in response.headers["cache-control"]
    assert (await client.get("/static/../../pyproject.toml")).status_code == 404
    assert (await client.get("/static/vendor/not-listed.js")).status_code == 404


async def test_the_api_reference_loads_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")

    assert docs.status_code == 200
    assert "swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower()


async def test_joining_from_a_page_comes_back_to_it(client: httpx.AsyncClient) -> None:
    page = await client.get("/register?next=/pricing")
    token = CSRF.search(page.text)
    assert token
    assert 'name="next" value="/pricing"' in page.text

    joined = await client.post(
        "/register",
        data={
            "name": "Nia",
            "email": "nia@example.com",
            "password": PASSWORD,
            "next": "/pricing",
            "csrf_token": token.group(1),
        },
    )
    elsewhere = await client.get("/register?next=https://evil.example/")

    assert joined.status_code == 303
    assert joined.headers["location"] == "/pricing"
    assert 'value="https://evil.example/"' not in elsewhere.text
