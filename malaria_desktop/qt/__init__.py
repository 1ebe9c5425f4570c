"""All PySide6 code of the app; it draws core's models and owns no analysis."""

from malaria_desktop.qt._refcount_guard import guard_singleton_refcounts

guard_singleton_refcounts()
