"""The search tests use the SQL tests' sample archive (extracted and appended for real) and helpers."""

from tests.sql.conftest import archive_copy, main, sample_archive, sample_batch  # noqa: F401 (fixtures)
