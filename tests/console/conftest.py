"""The console's tests reuse the ACL tier's server: the real users file of ``baton acl``."""

from tests.integration.test_acl import acl  # noqa: F401 - a fixture, used by name
