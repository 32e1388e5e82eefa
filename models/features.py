"""The penguin data's feature keys: the one module that spells them."""

LABEL_KEY = "species"

# Class order is fixed here, not learnt from data, so that a class index means the
# same species in every run and the Evaluator can compare models across runs.
SPECIES: tuple[str, ...] = ("Adelie", "Chinstrap", "Gentoo")

NUMERIC_FEATURE_KEYS: tuple[str, ...] = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
)
CATEGORICAL_FEATURE_KEYS: tuple[str, ...] = ("island", "sex")

# In the data but not a model input: the year is what the spans are cut by.
METADATA_KEYS: tuple[str, ...] = ("year",)

# Categorical values that are absent are mapped to this token before the vocabulary,
# so that "missing" is a category the model can learn rather than an accident.
MISSING_CATEGORY = "<missing>"


def transformed_name(key: str) -> str:
    """Name of a feature after Transform."""
    return f"{key}_xf"


def missing_indicator_name(key: str) -> str:
    """Name of the 0/1 feature that says a numeric value was absent."""
    return f"{key}_missing_xf"


def model_input_keys() -> list[str]:
    """Transformed feature names the Keras model reads, in a stable order."""
    keys = []
    for key in NUMERIC_FEATURE_KEYS:
        keys += [transformed_name(key), missing_indicator_name(key)]
    keys += [transformed_name(key) for key in CATEGORICAL_FEATURE_KEYS]
    return keys
