"""Converted data: the TFRecord schema and the tf.data input pipeline."""
