"""Headless analysis engine. Never imports PySide6 or TensorFlow (tests/test_architecture.py checks)."""
