"""Results in the formats other systems read (FHIR R4 for laboratory information systems).

Why a package of its own: the engine (``core``) writes the app's own CSVs and must stay light; an
interchange format brings its own library (``fhir.resources`` + pydantic), which is imported only when a
report is exported in that format, never when the CLI or the window starts.
"""
