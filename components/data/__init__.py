"""Shared data library: schema, dataset readers, tf.data input pipeline."""
