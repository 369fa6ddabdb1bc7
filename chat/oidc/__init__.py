"""Single sign-on with an OpenID Connect provider (issue #15), on mozilla-django-oidc.

- discovery: the provider's endpoints from OIDC_ISSUER's .well-known/openid-configuration, read at first
  use and kept for an hour (the library itself has no discovery).
- backend: the library's backend with the ID token's issuer and audience checked too, users found by
  their `sub` (then username) and their groups and staff flag synced from the claims at each sign-in.
- views: sign-in start and callback (provider errors as a page, not a 500), RP-initiated logout, and the
  password login pages, which refuse passwords when PASSWORD_LOGIN=false.
- recheck: a signed-in session is re-checked with the provider (refresh token) every OIDC_RECHECK_SECONDS;
  a refusal ends it and its sockets (a user removed or disabled at the provider).
"""
