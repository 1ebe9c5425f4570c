"""Cell classification: crops, the ONNX classifier, its model card and the checks on its input and output.

Why a package: a crop, the model that reads it and the card that says how are one contract; the domain and
plausibility checks judge the same crops and scores. Other packages use only the names below.
"""

from malaria_desktop.core.classification.classifier import DEFAULT_BATCH_SIZE, Classifier
from malaria_desktop.core.classification.crop_io import MAX_CROP_PIXELS, iter_crop_batches, read_crop
from malaria_desktop.core.classification.crops import crop_cell
from malaria_desktop.core.classification.domain_check import (
    FEATURES,
    REFERENCE_VERSION,
    RESPONSE_QUANTILE,
    check_field,
    crop_colour_stats,
    summarise_cells,
)
from malaria_desktop.core.classification.model_card import (
    CARD_FILE,
    FORMAT_VERSION,
    NEGATIVE_CLASS,
    POSITIVE_CLASS,
    ModelCard,
    UncertainBand,
    load_model_card,
    margin_band,
    parse_model_card,
)
from malaria_desktop.core.classification.plausibility import (
    IMPLAUSIBLE_FLAG,
    IMPLAUSIBLE_PARASITEMIA_PCT,
    count_kinds,
    image_warnings,
    is_noise,
    warning_kind,
)

__all__ = [
    "CARD_FILE",
    "Classifier",
    "DEFAULT_BATCH_SIZE",
    "FEATURES",
    "FORMAT_VERSION",
    "IMPLAUSIBLE_FLAG",
    "IMPLAUSIBLE_PARASITEMIA_PCT",
    "MAX_CROP_PIXELS",
    "ModelCard",
    "NEGATIVE_CLASS",
    "POSITIVE_CLASS",
    "REFERENCE_VERSION",
    "RESPONSE_QUANTILE",
    "UncertainBand",
    "check_field",
    "count_kinds",
    "crop_cell",
    "crop_colour_stats",
    "image_warnings",
    "is_noise",
    "iter_crop_batches",
    "load_model_card",
    "margin_band",
    "parse_model_card",
    "read_crop",
    "summarise_cells",
    "warning_kind",
]
