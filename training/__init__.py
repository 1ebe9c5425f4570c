"""Training, export and evaluation of the Malaria Desktop cell classifier (Keras; never imported by the app)."""

import malaria_desktop  # noqa: F401 - its stay_offline() runs before training can load ONNX Runtime
