import json

import pytest
from pydantic import ValidationError

from shared.auth.policy import Unauthenticated
from shared.auth.tokens import (
    ENV_FILE,
    ENV_INLINE,
    OrganisationRegistry,
    hash_token,
    load_registry,
    new_token,
    parse_organisations,
)

TOKEN = "s3cret-token-for-tests-only"


def config(**overrides: object) -> list[dict[str, object]]:
    entry: dict[str, object] = {"org_id": "station-fukang", "role": "liaison_station",
                                "token_sha256": hash_token(TOKEN),
                                "sites": [{"province": "新疆", "city": "阜康市"}]}
    entry.update(overrides)
    return [entry]


def test_tokens_are_kept_only_as_sha256():
    digest = hash_token(TOKEN)
    assert len(digest) == 64 and TOKEN not in digest
    assert hash_token(TOKEN) == digest
    assert len(new_token()) >= 40 and new_token() != new_token()


def test_the_registry_identifies_an_organisation_by_its_bearer_token():
    registry = OrganisationRegistry(parse_organisations(json.dumps(config())))
    org = registry.authenticate(f"Bearer {TOKEN}")
    assert (org.org_id, org.role) == ("station-fukang", "liaison_station")
    assert org.sites[0].city == "阜康市"


@pytest.mark.parametrize("header", [None, "", "Bearer ", "Basic abc", TOKEN])
def test_a_missing_or_malformed_token_is_a_401(header):
    registry = OrganisationRegistry(parse_organisations(json.dumps(config())))
    with pytest.raises(Unauthenticated) as err:
        registry.authenticate(header)
    assert (err.value.status_code, err.value.code) == (401, "missing_token")


def test_an_unknown_token_is_a_401():
    registry = OrganisationRegistry(parse_organisations(json.dumps(config())))
    with pytest.raises(Unauthenticated) as err:
        registry.authenticate("Bearer wrong")
    assert err.value.code == "unknown_token"


def test_loading_from_the_environment_or_a_file(tmp_path):
    assert len(load_registry({ENV_INLINE: json.dumps(config())})) == 1
    path = tmp_path / "orgs.json"
    path.write_text(json.dumps(config()))
    assert len(load_registry({ENV_FILE: str(path)})) == 1
    assert len(load_registry({})) == 0


def test_a_plain_token_in_the_config_is_refused():
    with pytest.raises(ValidationError):
        parse_organisations(json.dumps(config(token_sha256=TOKEN)))


@pytest.mark.parametrize("role", ["liaison_station", "training_institution", "assessment_body"])
def test_a_scoped_role_must_declare_its_scope(role):
    with pytest.raises(ValidationError):
        parse_organisations(json.dumps(config(role=role, sites=[])))


def test_an_unknown_role_is_refused():
    with pytest.raises(ValidationError):
        parse_organisations(json.dumps(config(role="mayor")))


def test_two_organisations_cannot_share_a_token():
    entries = config() + config(org_id="other")
    with pytest.raises(ValueError):
        OrganisationRegistry(parse_organisations(json.dumps(entries)))


def with_users(*users: dict[str, object]) -> OrganisationRegistry:
    return OrganisationRegistry(parse_organisations(json.dumps(config(users=list(users)))))


def test_an_officer_s_token_names_the_officer_and_acts_with_the_organisation_s_rights():
    registry = with_users({"user_id": "liaison-7", "token_sha256": hash_token("officer-token")})
    officer = registry.authenticate_identity("Bearer officer-token")
    assert (officer.organisation.org_id, officer.user) == ("station-fukang", "liaison-7")
    assert officer.organisation.sites[0].city == "阜康市"
    own = registry.authenticate_identity(f"Bearer {TOKEN}")
    assert (own.organisation, own.user) == (officer.organisation, None)
    assert registry.authenticate("Bearer officer-token") == officer.organisation
    assert len(registry) == 2


@pytest.mark.parametrize("users", [
    # one token for two identities: which one acted could not be told
    [{"user_id": "a", "token_sha256": hash_token(TOKEN)}],
    [{"user_id": "a", "token_sha256": hash_token("t")},
     {"user_id": "b", "token_sha256": hash_token("t")}],
])
def test_a_token_shared_by_two_identities_is_refused(users):
    with pytest.raises(ValueError, match="shared"):
        with_users(*users)


@pytest.mark.parametrize("user", [
    {"user_id": "a", "token_sha256": "officer-token"},  # a token in clear
    {"user_id": "", "token_sha256": hash_token("t")},
    {"user_id": "张三 (HR)", "token_sha256": hash_token("t")},  # an id, not a name
    {"user_id": "a" * 81, "token_sha256": hash_token("t")},
    {"user_id": "a", "token_sha256": hash_token("t"), "role": "hr_bureau"},
])
def test_a_malformed_user_is_refused(user):
    with pytest.raises(ValidationError):
        parse_organisations(json.dumps(config(users=[user])))


def test_a_user_listed_twice_is_refused():
    with pytest.raises(ValidationError, match="listed twice"):
        parse_organisations(json.dumps(config(users=[
            {"user_id": "a", "token_sha256": hash_token("t1")},
            {"user_id": "a", "token_sha256": hash_token("t2")}])))
