"""Dataset readers and the TFRecord writer behind `emorec convert`."""
