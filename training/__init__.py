"""Training, export and evaluation of the Malaria Desktop cell classifier (Keras; never imported by the app)."""
