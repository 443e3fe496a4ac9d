"""The official DocSpace Python SDK (docspace-api-sdk 3.7.0) against dsbackup: authentication,
API keys, people and rooms. Every call parses its response with the SDK's strict models."""
import uuid

import docspace_api_sdk as ds
import pytest
from docspace_api_sdk.models import (
    AuthRequestsDto,
    CreateApiKeyRequestDto,
    CreateRoomRequestDto,
    EmployeeType,
    MemberRequestDto,
    RoomType,
    UpdateApiKeyRequest,
)

from conftest import OWNER_EMAIL, OWNER_KEY, OWNER_PASSWORD


def test_login_and_is_authenticated(sdk):
    auth = ds.AuthenticationApi(sdk())
    res = auth.authenticate_me(AuthRequestsDto(user_name=OWNER_EMAIL, password=OWNER_PASSWORD))
    token = res.response.token
    assert token and res.response.expires is not None
    # The SDK sends no credentials for this call (an empty auth list); pass them by hand.
    api = ds.AuthenticationApi(sdk())
    assert api.get_is_authentificated().response is False
    assert api.get_is_authentificated(_headers={"Authorization": token}).response is True
    assert api.get_is_authentificated(_headers={"Authorization": OWNER_KEY}).response is True
    me = ds.ProfilesApi(sdk(access_token=token)).get_self_profile()
    assert me.response.email == OWNER_EMAIL and me.response.is_owner is True
    basic = ds.ProfilesApi(sdk(username=OWNER_EMAIL, password=OWNER_PASSWORD)).get_self_profile()
    assert basic.response.id == me.response.id


def test_wrong_password_is_a_401_envelope(sdk):
    auth = ds.AuthenticationApi(sdk())
    with pytest.raises(ds.exceptions.UnauthorizedException) as e:
        auth.authenticate_me(AuthRequestsDto(user_name=OWNER_EMAIL, password="wrong-password"))
    assert e.value.status == 401
    assert '"statusCode":401' in e.value.body


def test_api_key_lifecycle(sdk):
    keys = ds.ApiKeysApi(sdk(access_token=OWNER_KEY))
    created = keys.create_api_key(
        CreateApiKeyRequestDto(name="sdk key", permissions=["rooms:read", "files:read"], expires_in_days=30)
    )
    k = created.response
    assert k.key.startswith("sk-") and k.is_active is True
    assert k.expires_at is not None and k.expires_at.utc_time is not None
    assert k.create_by.display_name == "Portal Owner"
    assert sorted(k.permissions) == ["files:read", "rooms:read"]

    listed = keys.get_api_keys()
    assert listed.count == len(listed.response) == 2
    assert all(x.key is None for x in listed.response)

    perms = keys.get_all_permissions().response
    assert "*" in perms and "rooms:read" in perms

    mine = ds.ApiKeysApi(sdk(access_token=k.key)).get_api_key().response
    assert mine.id == k.id and mine.last_used is not None

    ok = keys.update_api_key(k.id, UpdateApiKeyRequest(name="renamed", is_active=False))
    assert ok.response is True
    with pytest.raises(ds.exceptions.UnauthorizedException):
        ds.ApiKeysApi(sdk(access_token=k.key)).get_api_key()

    assert keys.delete_api_key(k.id).response is True
    with pytest.raises(ds.exceptions.NotFoundException):
        keys.delete_api_key(k.id)
    with pytest.raises(ds.exceptions.NotFoundException):
        keys.update_api_key(uuid.uuid4(), UpdateApiKeyRequest(name="x"))


def test_key_validation_errors(sdk):
    keys = ds.ApiKeysApi(sdk(access_token=OWNER_KEY))
    with pytest.raises(ds.exceptions.BadRequestException) as e:
        keys.create_api_key(CreateApiKeyRequestDto(name="k", permissions=["everything"]))
    assert "Unknown permission" in e.value.body


def test_people_and_rooms(sdk):
    client = sdk(access_token=OWNER_KEY)
    member = ds.ProfilesApi(client).add_member(
        MemberRequestDto(
            email="sdk.user@example.org",
            password="sdk-user-password",
            first_name="Sdk",
            last_name="User",
            type=EmployeeType.ROOMADMIN,
        )
    ).response
    assert member.is_room_admin is True and member.email == "sdk.user@example.org"
    token = ds.AuthenticationApi(sdk()).authenticate_me(
        AuthRequestsDto(user_name="sdk.user@example.org", password="sdk-user-password")
    ).response.token

    rooms = ds.RoomsApi(sdk(access_token=token))
    room = rooms.create_room(CreateRoomRequestDto(title="SDK room", room_type=RoomType.CustomRoom)).response
    assert room.id > 0 and room.title == "SDK room"
    listing = rooms.get_rooms_folder().response
    assert listing.total == 1 and [f.title for f in listing.folders] == ["SDK room"]

    # A room admin may not add people.
    with pytest.raises(ds.exceptions.ForbiddenException) as e:
        ds.ProfilesApi(sdk(access_token=token)).add_member(
            MemberRequestDto(email="x@example.org", password="password-x1", first_name="X", last_name="Y")
        )
    assert "Access denied" in e.value.body
