"""Test-only helpers (tiny models, fixtures) shared by core, Qt and CLI tests."""
