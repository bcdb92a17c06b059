"""Models: the paralinguistic CNN, the temporal head and the full emotion model."""
from emorec.models.emotion_model import build_model, temporal_head  # noqa: F401
from emorec.models.paralinguistic import ParalinguisticCNN, paralinguistic_features  # noqa: F401
