"""Controllers: one QObject per job of the window (show images, analyse, review, sessions, export).

Each receives what it works on (the document, a runner, a view, the actions it owns) in its constructor
and connects its own slots; none imports ``main_window``. The window creates them and wires their signals
to each other, so every dependency is visible in one place and each controller can be tested with a
document and a stub view.
"""
