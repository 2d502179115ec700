from tests.entra import entra_tenant  # noqa: F401  (registers the session fixture)
